from sqlalchemy import create_engine, inspect


def test_the_migrations_create_the_same_tables_and_indexes_as_the_models(tmp_path):
    from services.catalog.models import Base
    from shared.migrations import upgrade

    url = f"sqlite:///{tmp_path / 'catalog.db'}"
    upgrade("catalog", url)
    engine = create_engine(url)
    try:
        inspector = inspect(engine)
        assert set(inspector.get_table_names()) - {"alembic_version"} == set(Base.metadata.tables)
        migrated = {ix["name"] for ix in inspector.get_indexes("products")}
        assert {ix.name for ix in Base.metadata.tables["products"].indexes} <= migrated
    finally:
        engine.dispose()
