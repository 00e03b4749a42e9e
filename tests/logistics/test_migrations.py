from sqlalchemy import create_engine, inspect


def test_the_migrations_create_the_same_tables_as_the_models(tmp_path):
    from services.logistics.models import Base
    from shared.migrations import upgrade

    url = f"sqlite:///{tmp_path / 'logistics.db'}"
    upgrade("logistics", url)
    engine = create_engine(url)
    try:
        inspector = inspect(engine)
        assert set(inspector.get_table_names()) - {"alembic_version"} == set(Base.metadata.tables)
        uniques = {u["name"] for u in inspector.get_unique_constraints("tracking_events")}
        assert "uq_tracking_events_waybill_at_state_detail" in uniques
    finally:
        engine.dispose()
