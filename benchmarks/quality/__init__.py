"""``python -m benchmarks.quality``: which local-server mode gives which quality at which speed.

Reference clips are panned and zoomed out of photographs that ship inside scikit-image, shrunk
x2 and x4, and enlarged back by bicubic, Lanczos (the ``lanczos`` mode) and the network (the
``learned`` mode); each result is scored against its reference (PSNR and SSIM on luma).
"""
