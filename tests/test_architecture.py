"""The import rules of docs/architecture.md, checked on the source (every import statement, module level or
inside a function), so the page stays true. `ALLOWED` is the page's table, and both equal what the code
imports (no unused allowance); the table is ordered by floor. Change code, `ALLOWED` and the page together."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "ssd2ncnn"

# unit -> the units of ours it may import. A unit is a top-level module or a sub-package of ssd2ncnn;
# "ssd2ncnn" is the package's own __init__ (the version).
ALLOWED: dict[str, set[str]] = {
    "assets": set(),
    "errors": set(),
    "version": set(),
    "importer_names": set(),
    "jsonutil": set(),
    "ort_session": set(),
    "owned_temp": set(),
    "cli": {"errors", "version"},
    "fileio": {"errors", "owned_temp"},
    "images": {"errors"},
    "schema": {"errors"},
    "__main__": {"cli"},
    "config": {"errors", "schema"},
    "data": {"errors", "images"},
    "ncnn_format": {"errors", "fileio"},
    "modelfolder": {"config", "errors", "schema"},
    "model": {"config", "errors", "modelfolder"},
    "patches": {"config", "errors", "modelfolder", "ncnn_format"},
    "runtime": {"errors", "fileio", "images", "modelfolder"},
    "importers": {"config", "errors", "importer_names", "model"},
    "quantize": {"errors", "fileio", "modelfolder", "ncnn_format", "runtime"},
    "checkpoint": {"config", "errors", "fileio", "importers", "model"},
    "converter": {"errors", "fileio", "model", "modelfolder", "ncnn_format", "ort_session", "owned_temp", "patches", "version"},
    "train": {"checkpoint", "config", "data", "errors", "fileio", "model"},
    "verify": {"checkpoint", "config", "converter", "data", "errors", "fileio", "model", "modelfolder", "ncnn_format", "ort_session", "patches", "runtime", "train"},
    "api": {"checkpoint", "config", "converter", "errors", "fileio", "model", "modelfolder", "quantize", "runtime", "verify"},
    "bench": {"assets", "checkpoint", "config", "data", "errors", "model", "modelfolder", "ncnn_format", "ort_session", "patches", "runtime", "verify"},
    "demo": {"assets", "checkpoint", "converter", "errors", "jsonutil", "modelfolder", "runtime", "verify"},
    "ssd2ncnn": {"api", "errors", "runtime", "version"},
}
ANY_BUT_CLI = "commands"  # commands may import any unit but cli
HEAVY = {"torch", "torchvision", "onnx", "onnxruntime", "onnxsim", "ncnn", "pnnx"}


def _unit(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "ssd2ncnn"


def _imports() -> dict[str, set[str]]:
    """unit -> every module name it imports (absolute; ours start with 'ssd2ncnn')."""
    out: dict[str, set[str]] = {}
    for path in PKG.rglob("*.py"):
        rel = path.relative_to(PKG.parent).with_suffix("")
        module = ".".join(rel.parts).removesuffix(".__init__")
        package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
        names = out.setdefault(_unit(module), set())
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - node.level + 1]
                    if node.module:
                        names.add(".".join([*base, node.module]))
                    else:  # `from . import x`: x is a module of that package, or a name in its __init__
                        for a in node.names:
                            sub = ".".join([*base, a.name])
                            names.add(sub if (PKG.parent / Path(*sub.split("."))).exists()
                                      or (PKG.parent / (Path(*sub.split(".")).as_posix() + ".py")).exists()
                                      else ".".join(base))
                elif node.module:
                    names.add(node.module)
    return out


IMPORTS = _imports()


def _ours(unit: str) -> set[str]:
    return {_unit(m) for m in IMPORTS[unit] if m == "ssd2ncnn" or m.startswith("ssd2ncnn.")} - {unit}


def _third_party(unit: str) -> set[str]:
    tops = {m.split(".")[0] for m in IMPORTS[unit]}
    return {t for t in tops if t != "ssd2ncnn" and t not in sys.stdlib_module_names and t != "__future__"}


PRETTY = {"PIL": "Pillow"}  # the third-party column names distributions
OUTSIDE = ("benchmarks", "scripts")  # folders beside the package: any unit but cli


def _documented() -> dict[str, tuple[str, set[str], set[str]]]:
    """docs/architecture.md's package table: unit -> (floor, may import, third-party), in the page's order."""
    import re

    table: dict[str, tuple[str, set[str], set[str]]] = {}
    for line in (PKG.parent / "docs" / "architecture.md").read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 5 or not cells[1].startswith("`"):
            continue
        allowed = re.sub(r"\([^)]*\)", "", cells[3]).replace("`", "").strip()
        names = set() if allowed == "nothing" else {n.strip() for n in allowed.split(",") if n.strip()}
        packages = re.sub(r"\([^)]*\)", "", cells[4])
        third = set() if packages.strip() == "-" else {n.strip() for n in packages.split(",")}
        for unit in re.findall(r"`([\w]+)/?`", cells[1]):
            table[unit] = (cells[0], names, third)
    return table


def test_the_doc_table_is_this_table() -> None:
    doc = {unit: names for unit, (_, names, _) in _documented().items()}
    assert doc.pop(ANY_BUT_CLI) == {"anything but cli"}
    for outside in OUTSIDE:
        assert doc.pop(outside) == {"any unit but cli"}
    # the package's own __init__ (the version) and __main__ have no row of their own
    assert doc == {k: v for k, v in ALLOWED.items() if k not in ("ssd2ncnn", "__main__")}


def test_the_doc_table_is_ordered_by_floor_and_names_the_third_party_imports() -> None:
    rows = {u: row for u, row in _documented().items() if u not in OUTSIDE}
    floors = {u: int(f) for u, (f, _, _) in rows.items() if f.isdigit()}
    for unit, level in floors.items():
        below = [floors[d] for d in ALLOWED.get(unit, set()) if d in floors]
        assert level == 1 + max(below, default=0), f"{unit} stands on floor {1 + max(below, default=0)}"
    assert list(floors.values()) == sorted(floors.values()), "order the table by floor"
    for unit, (_, _, third) in rows.items():
        assert third == {PRETTY.get(t, t) for t in _third_party(unit)}, f"{unit}: third-party column"


def test_every_unit_is_in_the_table() -> None:
    assert set(IMPORTS) - {ANY_BUT_CLI} == set(ALLOWED), "add the new unit to ALLOWED and docs/architecture.md"


@pytest.mark.parametrize("unit", sorted(ALLOWED))
def test_unit_imports_exactly_what_the_table_says(unit: str) -> None:
    ours = _ours(unit)
    assert ours == ALLOWED[unit], (f"{unit} imports {sorted(ours - ALLOWED[unit])} beyond the table and not "
                                   f"{sorted(ALLOWED[unit] - ours)} of it (docs/architecture.md)")


@pytest.mark.parametrize("folder", OUTSIDE)
def test_benchmarks_and_scripts_do_not_import_the_cli(folder: str) -> None:
    used = set()
    for path in (PKG.parent / folder).glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("ssd2ncnn"):
                used.add(_unit(node.module))
            elif isinstance(node, ast.Import):
                used |= {_unit(a.name) for a in node.names if a.name.startswith("ssd2ncnn")}
    assert used and "cli" not in used, sorted(used)


def test_commands_and_cli_are_the_top() -> None:
    assert "cli" not in _ours(ANY_BUT_CLI)
    for unit in ALLOWED:
        if unit not in ("cli", "__main__"):
            assert not {"commands", "cli"} & _ours(unit), f"{unit} imports the command line"


def test_ncnn_format_is_pure_python_and_config_needs_nothing() -> None:
    assert _third_party("ncnn_format") == set(), "ncnn_format must stay stdlib-only (param fmt/lint start fast)"
    assert _third_party("config") == set()


@pytest.mark.parametrize("unit", ["runtime", "data", "ncnn_format", "patches", "config"])
def test_light_units_import_no_heavy_library_directly(unit: str) -> None:
    allowed = {"ncnn"} if unit == "runtime" else set()
    assert not (_third_party(unit) & HEAVY) - allowed, f"{unit} imports {sorted(_third_party(unit) & HEAVY)}"


def _reach(unit: str) -> set[str]:
    seen, todo = set(), [unit]
    while todo:
        u = todo.pop()
        if u not in seen:
            seen.add(u)
            todo += sorted(_ours(u))
    return seen


def test_runtime_reaches_no_torch() -> None:
    heavy = {u: _third_party(u) & {"torch", "onnx", "onnxsim", "onnxruntime"} for u in _reach("runtime")}
    assert not {u: h for u, h in heavy.items() if h}
