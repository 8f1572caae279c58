"""Alembic is the only source of the schema, and it matches the models."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from billhive.db import Database, alembic_config, current_revision
from billhive.models import Base


def test_migrations_have_a_single_head(database_url: str) -> None:
    heads = ScriptDirectory.from_config(alembic_config(database_url)).get_heads()
    assert len(heads) == 1, f"several Alembic heads: {heads}"


def test_test_database_is_migrated_to_the_head(database_url: str) -> None:
    head = ScriptDirectory.from_config(alembic_config(database_url)).get_current_head()
    assert current_revision(database_url) == head


def test_autogenerate_finds_no_difference_between_models_and_migrations(
    database: Database,
) -> None:
    with database.engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "render_as_batch": True}
        )
        diff = compare_metadata(context, Base.metadata)
    assert diff == [], f"models and migrations differ on {database.engine.dialect.name}: {diff}"


def test_every_revision_downgrades_and_upgrades_again(tmp_path: object) -> None:
    from alembic import command

    url = f"sqlite:///{tmp_path}/roundtrip.db"
    config = alembic_config(url)
    command.upgrade(config, "head")
    command.downgrade(config, "base")
    assert current_revision(url) is None
    command.upgrade(config, "head")
    assert current_revision(url) is not None
