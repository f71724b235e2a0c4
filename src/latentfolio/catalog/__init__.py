"""The catalog: a collection's images with their codes (SQLite rows + memory-mapped float32 codes
+ FAISS search), filled and updated incrementally by an encoding pass."""

from .store import Catalog, check_model

__all__ = ["Catalog", "check_model"]
