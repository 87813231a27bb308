"""Feature expressions: a small safe language over columns and other features.

An expression is read by Python's own parser (`ast.parse(text, mode="eval")`) and its
tree is walked against a whitelist; Python never runs it (no eval, compile or exec).
What it may hold:

- numbers, and names: the chart's columns or features defined before;
- `+ - * / **`, unary `-`, and one comparison `< <= > >= == !=` (1.0 or 0.0);
- the elementwise functions `log exp sqrt abs sign`, `greater(x, y)` and `less(x, y)`
  (the larger and the smaller of the two at each bar);
- the window operators of `rolling` (`ref(x, n)`, `mean(x, n)`, `corr(x, y, n)`…),
  whose window n is a whole number literal.

Every value is a float or NaN, never ±inf: a division by zero, the log of a number <= 0,
the square root of a negative number, an exp or a power that overflows all give NaN,
and NaN in gives NaN out (comparisons too). Its canonical form (`ast.unparse` of the
checked tree, numbers written one way) is what a feature set hashes, so spacing and
redundant parentheses do not make a new version.
"""

from __future__ import annotations

import ast
import difflib
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from candlelab.errors import InvalidFeature, cut, quoted
from candlelab.features import rolling

Array = npt.NDArray[np.float64]

LONGEST = 2000  # characters: a feature is a line of arithmetic, not a program
DEEPEST = 50  # levels of nesting, which also bounds the recursion of every walk
WIDEST = 100_000  # bars in a window: more is a mistake, and every build would re-read it

ELEMENTWISE: dict[str, tuple[int, Callable[..., Array]]] = {
    "log": (1, np.log),
    "exp": (1, np.exp),
    "sqrt": (1, np.sqrt),
    "abs": (1, np.abs),
    "sign": (1, np.sign),
    "greater": (2, np.maximum),  # np.maximum and np.minimum propagate NaN
    "less": (2, np.minimum),
}
FUNCTIONS = sorted([*ELEMENTWISE, *rolling.OPERATORS])

ARITHMETIC: dict[type[ast.operator], Callable[[Array, Array], Array]] = {
    ast.Add: np.add,
    ast.Sub: np.subtract,
    ast.Mult: np.multiply,
    ast.Div: np.divide,
    ast.Pow: lambda base, power: _missing(np.power(base, power), base, power),
}
COMPARISONS: dict[type[ast.cmpop], Callable[[Array, Array], npt.NDArray[np.bool_]]] = {
    ast.Lt: np.less,
    ast.LtE: np.less_equal,
    ast.Gt: np.greater,
    ast.GtE: np.greater_equal,
    ast.Eq: np.equal,
    ast.NotEq: np.not_equal,
}
# What a refused node is called in a message; any other node by its class name.
REFUSED: dict[type[ast.AST], str] = {
    ast.Attribute: "attribute access",
    ast.Subscript: "a subscript",
    ast.Lambda: "a lambda",
    ast.IfExp: "a conditional (if … else)",
    ast.BoolOp: "'and'/'or'",
    ast.NamedExpr: "an assignment (:=)",
    ast.List: "a list",
    ast.Tuple: "a tuple",
    ast.Set: "a set",
    ast.Dict: "a dict",
    ast.ListComp: "a comprehension",
    ast.SetComp: "a comprehension",
    ast.DictComp: "a comprehension",
    ast.GeneratorExp: "a generator",
    ast.JoinedStr: "an f-string",
    ast.Starred: "a starred argument",
    ast.Await: "await",
    ast.Slice: "a slice",
}
SYMBOLS: dict[type[ast.AST], str] = {
    ast.FloorDiv: "//", ast.Mod: "%", ast.MatMult: "@", ast.LShift: "<<", ast.RShift: ">>",
    ast.BitOr: "|", ast.BitXor: "^", ast.BitAnd: "&", ast.Not: "not", ast.Invert: "~",
    ast.UAdd: "unary +", ast.Is: "is", ast.IsNot: "is not", ast.In: "in", ast.NotIn: "not in",
}  # fmt: skip


@dataclass(frozen=True, eq=False)
class Expression:
    """A checked expression: its text as written and its tree, ready to evaluate.

    Two expressions are equal when their canonical forms are.
    """

    text: str
    tree: ast.expr

    @property
    def canonical(self) -> str:
        """The one way to write this expression, which a feature set's version hashes."""
        return ast.unparse(self.tree)

    @property
    def names(self) -> frozenset[str]:
        """The columns and features the expression refers to."""
        return frozenset(_names(self.tree))

    def history(self, histories: Mapping[str, int]) -> int:
        """How many bars before t influence the value at t, given each name's history."""
        return _history(self.tree, histories)

    def evaluate(self, values: Mapping[str, npt.ArrayLike]) -> Array:
        """The expression's value at every bar, from equal-shape arrays of each name (time
        along the last axis); NaN where any input it needs is NaN or still warming up."""
        inputs = {name: _input(name, values) for name in sorted(self.names)}
        shapes = {array.shape for array in inputs.values()}
        if len(shapes) != 1:
            raise ValueError(f"the inputs of {self.text!r} differ in shape: {sorted(shapes)}")
        with np.errstate(all="ignore"):  # NaN, never a warning, is how a value is missing
            value = _value(self.tree, inputs, shapes.pop())
        # an expression that is one name must not hand out the caller's own array
        return value.copy() if isinstance(self.tree, ast.Name) else value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Expression) and self.canonical == other.canonical

    def __hash__(self) -> int:
        return hash(self.canonical)


def parse(text: str) -> Expression:
    """The expression `text` checked against the whitelist; InvalidFeature naming what is
    wrong, and where, when it is not one."""
    if not isinstance(text, str):
        raise InvalidFeature(f"an expression is text, not {type(text).__name__}")
    if len(text) > LONGEST:
        raise InvalidFeature(f"an expression is at most {LONGEST} characters: {quoted(text)}")
    try:
        body = ast.parse(text.strip(), mode="eval").body
    except SyntaxError as error:
        where = f" at column {error.offset}" if error.offset else ""
        raise InvalidFeature(f"{quoted(text)} is not an expression: {error.msg}{where}") from None
    except (ValueError, RecursionError, MemoryError) as error:  # null bytes, deep nesting
        raise InvalidFeature(f"{quoted(text)} is not an expression: {error}") from None
    tree = _Checker(text.strip()).checked(body, 0)
    if not _names(tree):
        raise InvalidFeature(f"{quoted(text)} refers to no column or feature")
    return Expression(text, tree)


class _Checker:
    """Walks a parsed tree against the whitelist and rebuilds it in canonical form."""

    def __init__(self, text: str) -> None:
        self.text = text

    def checked(self, node: ast.expr, depth: int) -> ast.expr:
        """`node` rebuilt from allowed parts only, or InvalidFeature."""
        if depth > DEEPEST:
            raise InvalidFeature(f"{quoted(self.text)} nests deeper than {DEEPEST} levels")
        if isinstance(node, ast.Constant):
            return ast.Constant(self.number(node))
        if isinstance(node, ast.Name):
            return ast.Name(node.id)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return ast.UnaryOp(ast.USub(), self.checked(node.operand, depth + 1))
        if isinstance(node, ast.BinOp) and type(node.op) in ARITHMETIC:
            left, right = (self.checked(side, depth + 1) for side in (node.left, node.right))
            return ast.BinOp(left, node.op, right)
        if isinstance(node, ast.Compare):
            return self.comparison(node, depth)
        if isinstance(node, ast.Call):
            return self.call(node, depth)
        raise self.refused(node, self.called(node))

    def called(self, node: ast.AST) -> str:
        """What a refused node is, in the words of a message."""
        op = getattr(node, "op", None)
        if op is not None and type(node) not in REFUSED:
            return f"the operator {SYMBOLS.get(type(op), type(op).__name__)!r}"
        return REFUSED.get(type(node), type(node).__name__)

    def refused(self, node: ast.AST, what: str) -> InvalidFeature:
        """InvalidFeature for `what` at `node`, quoting its source and its column."""
        source = ast.get_source_segment(self.text, node) or ast.unparse(node)
        return InvalidFeature(
            f"{what} is not allowed in an expression: {quoted(source)}{self.where(node)}"
        )

    def where(self, node: ast.AST) -> str:
        """' at column C' (and line L after the first), counted in characters from 1."""
        line, offset = getattr(node, "lineno", None), getattr(node, "col_offset", None)
        if line is None or offset is None:
            return ""
        # ast counts the offset in UTF-8 bytes; a message counts characters
        text = self.text.splitlines()[line - 1].encode()[:offset].decode(errors="ignore")
        return f" at column {len(text) + 1}" + (f" of line {line}" if line > 1 else "")

    def number(self, node: ast.Constant) -> int | float:
        """A number written one way: whole numbers without '.0', others as floats."""
        value = node.value
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.refused(node, _constant(value))
        try:
            number = float(value)
        except OverflowError:
            number = float("inf")
        if not np.isfinite(number):
            raise self.refused(node, "a number this large")
        return int(number) if number.is_integer() and abs(number) < 2**53 else number

    def comparison(self, node: ast.Compare, depth: int) -> ast.expr:
        """One comparison of two operands."""
        if len(node.ops) > 1:
            raise self.refused(node, "a chained comparison")
        if type(node.ops[0]) not in COMPARISONS:
            name = SYMBOLS.get(type(node.ops[0]), type(node.ops[0]).__name__)
            raise self.refused(node, f"the comparison {name!r}")
        left, right = (self.checked(side, depth + 1) for side in (node.left, node.comparators[0]))
        return ast.Compare(left, node.ops, [right])

    def call(self, node: ast.Call, depth: int) -> ast.expr:
        """A call of a function of the table with its arguments in place."""
        if not isinstance(node.func, ast.Name):
            what = REFUSED.get(type(node.func), "a call of anything but a function's name")
            raise self.refused(node.func if type(node.func) in REFUSED else node, what)
        name = node.func.id
        if name not in ELEMENTWISE and name not in rolling.OPERATORS:
            raise InvalidFeature(f"unknown function {quoted(name)}; {_closest(name, FUNCTIONS)}")
        if node.keywords:
            raise self.refused(node.keywords[0], "a keyword argument")
        for argument in node.args:
            if isinstance(argument, ast.Starred):
                raise self.refused(argument, "a starred argument")
        if name in ELEMENTWISE:
            self.count(node, ELEMENTWISE[name][0], ("x", "y"))
            return _called(name, [self.checked(a, depth + 1) for a in node.args])
        return self.windowed(node, rolling.OPERATORS[name], depth)

    def windowed(self, node: ast.Call, op: rolling.Operator, depth: int) -> ast.expr:
        """A window operator: its series checked, its window a whole number literal."""
        self.count(node, op.series + 1, (*("x", "y")[: op.series], "n"))
        *series, window = node.args
        if not (isinstance(window, ast.Constant) and type(window.value) is int):
            window_value = -1
        else:
            window_value = window.value
        if window_value < op.least:
            raise InvalidFeature(
                f"{cut(ast.unparse(node))}: the window must be a whole number of bars >= {op.least}"
            )
        if window_value > WIDEST:
            raise InvalidFeature(f"{cut(ast.unparse(node))}: the window is at most {WIDEST} bars")
        arguments = [self.checked(s, depth + 1) for s in series]
        return _called(op.name, [*arguments, ast.Constant(window_value)])

    def count(self, node: ast.Call, wanted: int, parameters: tuple[str, ...]) -> None:
        """Refuses a call with another number of arguments than its function takes."""
        if len(node.args) != wanted:
            name = ast.unparse(node.func)
            raise InvalidFeature(
                f"{name}({', '.join(parameters[:wanted])}) takes {wanted} argument"
                f"{'s' if wanted > 1 else ''}, not {len(node.args)}: "
                f"{quoted(ast.unparse(node))}{self.where(node)}"
            )


def _constant(value: object) -> str:
    """What a constant that is no number is, in the words of a message."""
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bytes):
        return "bytes"
    if isinstance(value, complex):
        return "a complex number"
    return f"the constant {value!r}"


def _called(name: str, arguments: list[ast.expr]) -> ast.Call:
    return ast.Call(ast.Name(name), arguments, [])


def _closest(name: str, known: list[str]) -> str:
    """'closest: a, b' from the known names, or all of them when none is close."""
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
    return f"closest: {', '.join(close)}" if close else f"known: {', '.join(known)}"


def _names(node: ast.expr) -> set[str]:
    """The names a checked tree refers to (a call's function is none of them)."""
    if isinstance(node, ast.Name):
        return {node.id}
    if isinstance(node, ast.Constant):
        return set()
    return set().union(*(_names(child) for child in _children(node)))


def _known(name: str, known: Mapping[str, object]) -> None:
    """Refuses a name that is neither a column nor a feature given."""
    if name not in known:
        raise InvalidFeature(
            f"unknown column or feature {quoted(name)}; {_closest(name, sorted(known))}"
        )


def _parts(node: ast.expr) -> tuple[str, list[ast.expr], int]:
    """A checked call's function, its series arguments and its window (0 for none)."""
    assert isinstance(node, ast.Call)
    assert isinstance(node.func, ast.Name)
    if node.func.id in ELEMENTWISE:
        return node.func.id, node.args, 0
    *series, window = node.args
    assert isinstance(window, ast.Constant)
    assert isinstance(window.value, int)
    return node.func.id, series, window.value


def _children(node: ast.expr) -> list[ast.expr]:
    """The operands of a checked arithmetic, comparison or call node."""
    if isinstance(node, ast.BinOp):
        return [node.left, node.right]
    if isinstance(node, ast.Compare):
        return [node.left, *node.comparators]
    if isinstance(node, ast.UnaryOp):
        return [node.operand]
    return _parts(node)[1]


def _history(node: ast.expr, histories: Mapping[str, int]) -> int:
    if isinstance(node, ast.Constant):
        return 0
    if isinstance(node, ast.Name):
        _known(node.id, histories)
        return histories[node.id]
    reach = max(_history(child, histories) for child in _children(node))
    if isinstance(node, ast.Call) and (op := rolling.OPERATORS.get(_parts(node)[0])):
        return reach + op.history(_parts(node)[2])
    return reach


def _input(name: str, values: Mapping[str, npt.ArrayLike]) -> Array:
    _known(name, values)
    return np.ascontiguousarray(values[name], dtype=np.float64)


def _finite(values: Array) -> Array:
    """`values` with ±inf made NaN: a value that cannot be computed is missing."""
    values[~np.isfinite(values)] = np.nan
    return values


def _value(node: ast.expr, inputs: Mapping[str, Array], shape: tuple[int, ...]) -> Array:
    """The value of a checked tree; every array it returns but an input's is new."""
    if isinstance(node, ast.Constant):
        assert isinstance(node.value, int | float)
        return np.full(shape, float(node.value), dtype=np.float64)
    if isinstance(node, ast.Name):
        return inputs[node.id]
    if isinstance(node, ast.Compare):
        return _compared(node, inputs, shape)
    operands = [_value(child, inputs, shape) for child in _children(node)]
    if isinstance(node, ast.UnaryOp):
        return -operands[0]
    if isinstance(node, ast.BinOp):
        return _finite(ARITHMETIC[type(node.op)](*operands))
    return _finite(_called_value(node, operands))


def _called_value(node: ast.expr, operands: list[Array]) -> Array:
    """A call's value from its operands' values."""
    name, _, window = _parts(node)
    if name in ELEMENTWISE:
        return ELEMENTWISE[name][1](*operands)
    return rolling.OPERATORS[name].compute(*operands, window)


def _missing(out: Array, *operands: Array) -> Array:
    """`out` with NaN wherever an operand is NaN: IEEE has nan ** 0 == 1 ** nan == 1, but a
    missing input gives a missing value."""
    for operand in operands:
        out[np.isnan(operand)] = np.nan
    return out


def _compared(node: ast.Compare, inputs: Mapping[str, Array], shape: tuple[int, ...]) -> Array:
    """1.0 where the comparison holds, 0.0 where not, NaN where either side is NaN."""
    left, right = _value(node.left, inputs, shape), _value(node.comparators[0], inputs, shape)
    return _missing(COMPARISONS[type(node.ops[0])](left, right).astype(np.float64), left, right)
