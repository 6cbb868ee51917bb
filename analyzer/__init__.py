"""llmcost: what LLM API traffic really costs, computed offline from the logs a team already has."""

__version__ = "0.1.0"
