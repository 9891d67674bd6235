"""bot.db under overload: waiting for a pooled connection ends with a translated "busy"
error (well before Discord's 3-second deadline), not a missed answer."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from bot.db import POOL_TIMEOUT_S, Busy, Database
from bot.i18n import t


async def test_a_transaction_that_gets_no_connection_says_busy(database_url):
    db = Database(database_url, pool_size=1, max_overflow=0)
    try:
        async with db.read() as holder:
            await holder.execute(text("SELECT 1"))  # the only connection is taken
            with pytest.raises(Busy) as caught:
                async with db.read() as session:
                    await session.execute(text("SELECT 1"))
            if db.dialect == "postgresql":  # one pool for reads and writes
                with pytest.raises(Busy):
                    async with db.begin() as session:
                        await session.execute(text("SELECT 1"))
            else:
                # On a SQLite file reads have their own pool: a crowd of reads never keeps a
                # write from its connection.
                async with db.begin() as session:
                    await session.execute(text("SELECT 1"))
        # Once the connection is back, work goes on.
        async with db.read() as session:
            assert (await session.execute(text("SELECT 1"))).scalar() == 1
    finally:
        await db.dispose()
    assert caught.value.key == "performance.busy"
    assert POOL_TIMEOUT_S < 3
    assert t("performance.busy", "fr").startswith("Le bot est très sollicité")
