"""The columns of the progress display: rich's Progress keeps one task per line, and each
column draws its part of the board's line for that task (imported with rich, only when a
terminal shows progress)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rich.console import RenderableType
from rich.progress import ProgressColumn, Task
from rich.progress_bar import ProgressBar
from rich.table import Column
from rich.text import Text

from uprez.cli.progress_board import Line

#: Reads the line of a task from its fields: the line (None once gone) and the time now.
LineOf = Callable[[dict[str, Any]], tuple[Line | None, float]]


class _Part(ProgressColumn):
    """One part of a line: its label, its phase, its bar or its figures."""

    def __init__(self, line_of: LineOf, part: str, styles: dict[str, str], width: int) -> None:
        if part == "label":
            column = Column(no_wrap=True, max_width=32, overflow="ellipsis")
        elif part == "phase":
            column = Column(no_wrap=True, min_width=11)
        else:
            column = Column(no_wrap=True, overflow="ellipsis")
        super().__init__(table_column=column)
        self._line_of, self._part, self._styles, self._width = line_of, part, styles, width

    def render(self, task: Task) -> RenderableType:
        line, now = self._line_of(task.fields)
        if line is None:
            return Text("")
        if self._part == "label":
            return Text(line.label, style="bold" if line.phase == "" else "")
        if self._part == "phase":
            return Text(line.phase, style=self._styles.get(line.phase, ""))
        if self._part == "bar":
            return ProgressBar(
                total=line.total,
                completed=line.completed,
                width=self._width,
                pulse=line.total is None,
                animation_time=now,
            )
        return Text(line.info)


def columns(line_of: LineOf, styles: dict[str, str], width: int) -> list[ProgressColumn]:
    """The display's columns: label, phase, bar (``width`` cells) and figures."""
    return [_Part(line_of, part, styles, width) for part in ("label", "phase", "bar", "info")]
