"""Every exception the library raises on purpose lives here.

Each subclasses the built-in a caller would naturally catch (``TypeError`` for
a wrong kind of argument, ``ValueError`` for a right kind with a wrong value),
so ``except TypeError`` keeps working for code that does not know this library.
"""


class CompilerError(Exception):
    """Base class of all errors raised by ``compiler``."""


class TracingError(CompilerError, TypeError):
    """A symbolic value was used where Python needs a concrete one.

    Raised by ``bool(expr)`` (``if``/``while``/``and``/``or`` on a traced value)
    and by ``float(expr)``; the message points to ``cc.where``.
    """


class UnsupportedError(CompilerError, ValueError):
    """An expression uses a function the compiler has no op for (for example a SymPy function)."""


class ShapeError(CompilerError, ValueError):
    """Arguments have incompatible shapes or lengths."""


class ArgumentError(CompilerError, TypeError):
    """A compiled function was called with the wrong number or kind of arguments."""


class ParseError(CompilerError, ValueError):
    """Expression text (``cc.parse``) or a point (``parse_point``) that cannot be read.

    ``text`` is the text given, ``line`` and ``column`` (1-based, counted in
    characters; None when unknown) locate the problem, and ``piece`` is the
    offending part of the text (or None). The message shows it under a caret.
    """

    def __init__(self, message: str, *, text: str | None = None, line: int | None = None,
                 column: int | None = None, piece: str | None = None):
        super().__init__(message)
        self.text, self.line, self.column, self.piece = text, line, column, piece


class CacheError(CompilerError, OSError):
    """The cache directory cannot be cleared safely (``cc.clear_cache``, ``cache clear``):
    it is not private to this user, or it holds files the cache did not write and no
    ``CACHEDIR.TAG`` of this library. The message names the directory and what was found."""


class UnsupportedFunctionError(CompilerError, TypeError):
    """A NumPy function (or ufunc) called with a symbolic expression has no implementation here:
    raised at the call, naming the function (``cc.numpy_functions()`` lists those that work)."""


class ResourceError(CompilerError, MemoryError):
    """What was asked for would need more memory than the library allows, refused before any of
    it is allocated (the carry history of a loop's gradient): the message gives the estimate,
    the limit and what to do instead."""


class SolverNotFoundError(CompilerError, ImportError):
    """A solver library (IPOPT's ``libipopt``) cannot be found or loaded, or is a version this
    library cannot call: the message says where it looked, what it found and which extra to
    install (``pip install "adjoint-compiler[solvers]"``)."""


class IntegrationWarning(RuntimeWarning):
    """A one-point call of a compiled function whose ``cc.odeint`` failed (``max_steps`` used up,
    the step size below its floor, a non-finite state, output times not increasing): its
    outputs are ``nan`` from the failure on, and the warning says which failure and at what
    time. Batches do not warn: ``odeint(..., full_output=True)`` gives the status per point."""
