"""Wearable providers: OAuth, the Oura and WHOOP clients and their sync. Pure code: httpx and
the standard library, no Dagster; the database is reached through `sync.SyncStore`."""
