"""Models stage: logistic regression and Cox PH per PGS, as tidy result rows."""
