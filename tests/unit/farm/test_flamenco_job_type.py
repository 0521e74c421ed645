"""The Flamenco job type (hooks/farm/flamenco/uprez-upscale.js): what the Manager reads of it, and
the task its compileJob authors.

Flamenco runs job types in its own JavaScript engine (goja), which exists only inside the
Manager. The file is read with a real JavaScript parser (esprima, in the test extra), and
compileJob runs under Node.js where `node` is installed, with the `author` and `path` modules the
Manager provides replaced by stand-ins that behave as Flamenco's do."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import esprima
import pytest

NODE = shutil.which("node")
needs_node = pytest.mark.skipif(NODE is None, reason="compileJob runs under Node.js: no `node`")

# Runs the job type as the Manager does: the file as a script, then compileJob(job) with the
# Manager's globals. author.Task/author.Command and path.* follow Flamenco's Go implementations
# (internal/manager/job_compilers/author.go, js_path.go and pkg/crosspath).
HARNESS = r"""
const fs = require("fs");
const vm = require("vm");
const nodePath = require("path");
const [file, jobJson] = process.argv.slice(1); // `node -e` has no script argument
// Flamenco's crosspath takes every backslash for a separator, on any platform.
const toSlash = (p) => p.split("\\").join("/");
const dirname = (p) => {
  if (p === "") return ".";
  const slashed = toSlash(p);
  const dir = slashed.slice(0, slashed.lastIndexOf("/") + 1);
  return dir === "" ? "." : dir.length > 1 ? dir.slice(0, -1) : dir;
};
const context = vm.createContext({
  print: () => {},
  path: {
    basename: (p) => nodePath.posix.basename(toSlash(p)),
    dirname,
    join: (...parts) => toSlash(nodePath.posix.join(...parts)),
    stem: (p) => nodePath.posix.parse(toSlash(p)).name,
  },
  author: {
    Task: (name, type) => ({
      name, type, commands: [], dependencies: [],
      addCommand(command) { this.commands.push(command); },
      addDependency(task) { this.dependencies.push(task.name); },
    }),
    Command: (name, parameters, totalStepCount) =>
      ({ name, parameters, totalStepCount: totalStepCount || 0 }),
  },
});
vm.runInContext(fs.readFileSync(file, "utf8"), context, { filename: file });
const tasks = [];
const job = Object.assign(JSON.parse(jobJson), { addTask: (task) => tasks.push(task) });
let answer;
try {
  vm.runInContext("compileJob", context)(job);
  answer = { tasks: tasks.map(({ name, type, commands, dependencies }) =>
    ({ name, type, commands, dependencies })) };
} catch (error) {
  answer = { error: String(error) };
}
answer.jobType = vm.runInContext("JOB_TYPE", context);
process.stdout.write(JSON.stringify(answer));
"""


@pytest.fixture
def job_type(farm: Path) -> Path:
    return farm / "flamenco" / "uprez-upscale.js"


def literal(node: Any) -> Any:
    """The value of a JavaScript literal expression (objects, arrays, strings, numbers...)."""
    if node.type == "Literal":
        return node.value
    if node.type == "ArrayExpression":
        return [literal(element) for element in node.elements]
    if node.type == "ObjectExpression":
        return {(p.key.name or p.key.value): literal(p.value) for p in node.properties}
    raise AssertionError(f"not a literal: {node.type}")


def declarations(job_type: Path) -> dict[str, Any]:
    program = esprima.parseScript(job_type.read_text("utf-8"))
    found: dict[str, Any] = {}
    for statement in program.body:
        if statement.type == "VariableDeclaration":
            for declaration in statement.declarations:
                found[declaration.id.name] = declaration
        elif statement.type == "FunctionDeclaration":
            found[statement.id.name] = statement
    return found


def compile_job(job_type: Path, settings: dict[str, str]) -> dict[str, Any]:
    assert NODE is not None
    job = {"name": "sh010 upscale", "settings": settings, "metadata": {}}
    done = subprocess.run(
        [NODE, "-e", HARNESS, str(job_type), json.dumps(job)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    answer: dict[str, Any] = json.loads(done.stdout)
    return answer


def test_the_file_is_a_script_with_a_job_type_and_a_compile_job_function(job_type: Path) -> None:
    found = declarations(job_type)
    assert found["compileJob"].type == "FunctionDeclaration"
    assert [p.name for p in found["compileJob"].params] == ["job"]
    assert literal(found["JOB_TYPE"].init) == {
        "label": "uprez upscale",
        "description": "Upscale a movie to 4K with uprez",
        "settings": [
            {
                "key": "movie",
                "type": "string",
                "subtype": "file_path",
                "required": True,
                "description": "The movie to upscale (an image sequence is refused)",
            },
            {
                "key": "output_folder",
                "type": "string",
                "subtype": "dir_path",
                "required": False,
                "description": "An existing folder for the result; empty: the movie's own folder",
            },
        ],
    }


def test_the_job_type_runs_uprez_through_the_exec_command(job_type: Path) -> None:
    """Flamenco's `exec` command takes `exe` and `args` (a list: no shell is involved)."""
    found = declarations(job_type)
    assert literal(found["UPREZ_EXECUTABLE"].init) == "uprez"
    assert literal(found["UPREZ_TASK_TYPE"].init) == "misc"
    source = job_type.read_text("utf-8")
    assert 'author.Command("exec", {' in source


@needs_node
def test_node_reads_the_file_as_a_script(job_type: Path) -> None:
    assert NODE is not None
    subprocess.run([NODE, "--check", str(job_type)], check=True, timeout=60)


@needs_node
def test_compile_job_authors_one_task_that_runs_the_readme_command(job_type: Path) -> None:
    answer = compile_job(job_type, {"movie": "/shows/abc/sh010/sh010_v003.mov"})
    assert answer["tasks"] == [
        {
            "name": "upscale",
            "type": "misc",
            "commands": [
                {
                    "name": "exec",
                    "parameters": {
                        "exe": "uprez",
                        "args": [
                            "upscale",
                            "--json",
                            "--output",
                            "/shows/abc/sh010/",
                            "--",
                            "/shows/abc/sh010/sh010_v003.mov",
                        ],
                    },
                    "totalStepCount": 0,
                }
            ],
            "dependencies": [],
        }
    ]
    assert answer["jobType"]["settings"][0]["key"] == "movie"


@needs_node
def test_a_hostile_movie_name_is_one_argument(job_type: Path) -> None:
    """(No backslash: Flamenco takes one for a path separator wherever it runs.)"""
    movie = '/shows/abc/sh 010/it\'s "final"; $(rm -rf ~) `touch x` & echo v2.mov'
    answer = compile_job(job_type, {"movie": movie})
    [task] = answer["tasks"]
    assert task["commands"][0]["parameters"]["args"] == [
        "upscale",
        "--json",
        "--output",
        "/shows/abc/sh 010/",
        "--",
        movie,
    ]


@needs_node
def test_without_an_output_folder_the_result_goes_beside_the_movie(job_type: Path) -> None:
    """Flamenco's path.dirname answers with forward slashes, which uprez on Windows reads too."""
    answer = compile_job(job_type, {"movie": "P:\\abc\\sh010\\a.mov"})
    [task] = answer["tasks"]
    arguments = task["commands"][0]["parameters"]["args"]
    assert arguments[3:] == ["P:/abc/sh010/", "--", "P:\\abc\\sh010\\a.mov"]


@needs_node
@pytest.mark.parametrize(
    ("folder", "expected"),
    [
        ("/shows/abc/4k", "/shows/abc/4k/"),
        ("/shows/abc/4k/", "/shows/abc/4k/"),
        ("P:\\abc\\4k", "P:\\abc\\4k\\"),
        ("{render}/abc/4k", "{render}/abc/4k/"),
    ],
)
def test_the_output_folder_setting_is_passed_as_a_folder(
    job_type: Path, folder: str, expected: str
) -> None:
    answer = compile_job(job_type, {"movie": "/shows/abc/a.mov", "output_folder": folder})
    [task] = answer["tasks"]
    assert task["commands"][0]["parameters"]["args"][3] == expected


@needs_node
@pytest.mark.parametrize("movie", ["/shows/abc/sh010.####.exr", "/shows/abc/sh010.%04d.png"])
def test_an_image_sequence_is_refused_when_the_job_is_compiled(job_type: Path, movie: str) -> None:
    answer = compile_job(job_type, {"movie": movie})
    assert "image sequence" in answer["error"]


@needs_node
def test_an_empty_movie_is_refused_when_the_job_is_compiled(job_type: Path) -> None:
    assert "'movie' setting is empty" in compile_job(job_type, {"movie": " "})["error"]
