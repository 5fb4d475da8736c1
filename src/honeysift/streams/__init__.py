"""streams stage (see DESIGN.md)."""
