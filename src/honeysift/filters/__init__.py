"""filters stage (see DESIGN.md)."""
