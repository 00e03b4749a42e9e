from sqlalchemy import create_engine, inspect


def test_the_migration_creates_the_tables_the_models_describe(tmp_path):
    from services.stores.models import Base
    from shared.migrations import upgrade

    url = f"sqlite:///{tmp_path / 'stores-migrated.db'}"
    upgrade("stores", url)
    engine = create_engine(url)
    try:
        inspector = inspect(engine)
        assert set(inspector.get_table_names()) - {"alembic_version"} == set(Base.metadata.tables)
        checks = {c["name"] for c in inspector.get_check_constraints("stock")}
        assert checks == {"ck_stock_reserved_not_negative", "ck_stock_on_hand_covers_reserved"}
    finally:
        engine.dispose()
