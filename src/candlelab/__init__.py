"""candlelab: machine learning on candlestick market data, in one PostgreSQL database."""

__version__ = "0.1.0"
