"""Renderers: figures, curves, self-contained HTML pages and the interactive map."""
