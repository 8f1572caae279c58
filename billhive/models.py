"""Imports every model module so ``Base.metadata`` is complete (Alembic, tests).

Domain packages add their model modules here as they grow.
"""

from billhive.db import Base

__all__ = ["Base"]
