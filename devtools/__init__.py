"""Development helpers (throwaway PostgreSQL servers); not part of the shipped package."""
