"""Who answers for the assets: shown on every asset in the UI."""

OWNER = "team:americano"
