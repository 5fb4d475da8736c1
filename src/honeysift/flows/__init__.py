"""flows stage (see DESIGN.md)."""
