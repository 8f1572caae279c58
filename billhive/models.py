"""Imports every model module so ``Base.metadata`` is complete (Alembic, tests).

Domain packages add their model modules here as they grow.
"""

from billhive.db import Base
from billhive.delivery import models as delivery_models  # noqa: F401
from billhive.feeds import models as feeds_models  # noqa: F401
from billhive.platform.admin import models as admin_models  # noqa: F401
from billhive.tenants import models as tenants_models  # noqa: F401  (registers the tables)
from billhive.tokens import models as tokens_models  # noqa: F401
from billhive.workers import models as workers_models  # noqa: F401
from billhive.workers import usage_models  # noqa: F401

__all__ = ["Base"]
