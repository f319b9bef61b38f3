"""The reference NumPy inference path: ``Model.open(path).run({...})``."""

from .model import Model

__all__ = ["Model"]
