"""HTML audit reports built from saved run and explanation artefacts."""
