"""filters stage (see DESIGN.md)."""

#: Nesting (parentheses, ``not``...) a capture or display filter may have: far beyond any real
#: filter, well inside Python's recursion limit in every parser and evaluator path.
MAX_DEPTH = 200
