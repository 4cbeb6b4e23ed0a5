"""Report stage: results tables, small-count suppression, a self-contained HTML page."""
