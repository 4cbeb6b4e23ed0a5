"""Models stage: logistic and Cox grids per PGS (distributed), difference, replication,
meta-analysis, definition consistency and Kaplan-Meier curves, as tidy tables."""
