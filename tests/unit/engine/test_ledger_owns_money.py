"""Only the ledger changes money: no engine module outside ``engine/ledger.py`` assigns to
a balance's ``total``/``frozen`` or writes the fee and deposit totals (read from the
source, so a new shortcut fails here rather than slipping into a review)."""

from __future__ import annotations

import ast
from pathlib import Path

import ceres.engine

ENGINE = Path(ceres.engine.__file__).parent
MONEY_ATTRS = {"total", "frozen"}
LEDGER_TOTALS = {"fees", "net_deposits", "deposits", "withdrawals", "topups", "covered"}


def _writes(tree: ast.AST) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(tree):
        targets: list[ast.expr] = []
        if isinstance(node, ast.Assign):
            targets = list(node.targets)
        elif isinstance(node, (ast.AugAssign, ast.AnnAssign)):
            targets = [node.target]
        for target in targets:
            for t in (target.elts if isinstance(target, ast.Tuple) else [target]):
                if isinstance(t, ast.Attribute) and t.attr in MONEY_ATTRS:
                    found.append((node.lineno, f"assigns .{t.attr}"))
                if isinstance(t, ast.Subscript) and isinstance(t.value, ast.Attribute) \
                        and t.value.attr in LEDGER_TOTALS:
                    found.append((node.lineno, f"writes .{t.value.attr}[...]"))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                and node.func.attr in ("update", "setdefault", "pop", "clear") \
                and isinstance(node.func.value, ast.Attribute) and node.func.value.attr in LEDGER_TOTALS:
            found.append((node.lineno, f"calls .{node.func.value.attr}.{node.func.attr}()"))
    return found


def test_no_engine_module_but_the_ledger_writes_money():
    offenders = []
    for path in sorted(ENGINE.glob("*.py")):
        if path.name == "ledger.py":
            continue
        for line, what in _writes(ast.parse(path.read_text(), str(path))):
            offenders.append(f"{path.name}:{line} {what}")
    assert offenders == []


def test_the_check_sees_a_direct_write():
    """The scan itself finds the shapes it forbids (so the test above can fail)."""
    tree = ast.parse("bal.total -= 5\nx.frozen = 1\nself.ledger.fees[k] = 2\nstate.ledger.net_deposits.update({})\n"
                     "a.total, b.frozen = 1, 2\n")
    assert sorted(_writes(tree)) == [(1, "assigns .total"), (2, "assigns .frozen"), (3, "writes .fees[...]"),
                                     (4, "calls .net_deposits.update()"), (5, "assigns .frozen"),
                                     (5, "assigns .total")]
    assert ENGINE.joinpath("ledger.py").exists() and _writes(ast.parse(ENGINE.joinpath("ledger.py").read_text()))
