"""The project's pipelines; see ``shuttle_prices.pipeline_registry``."""
