"""The inventory: aggregation by host and the document encoding every output shares."""
