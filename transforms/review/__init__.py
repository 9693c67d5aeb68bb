"""Human review: labels people give to a sample of a run, and how far they agree."""
