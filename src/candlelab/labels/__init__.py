"""Labels on charts: what people (and models) say about the candles.

Owns tables `span_label_types`, `span_annotations` (`spans`), `annotation_types` and
`annotations` (`annotations`). Every change names the version it was made from
(`versions`), so two labellers never overwrite each other; `proposals` turns a
detector's runs of bars into proposed spans for review.
"""
