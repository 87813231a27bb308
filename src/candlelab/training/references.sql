-- record_reference --
-- One feature's (or the predictions') distribution in a run's training rows.
INSERT INTO drift_references
    (run_id, kind, name, position, rows, edges, counts, missing, quantiles, categories, mean,
     std, nan_share)
VALUES (%(run_id)s, %(kind)s, %(name)s, %(position)s, %(rows)s, %(edges)s, %(counts)s,
        %(missing)s, %(quantiles)s, %(categories)s, %(mean)s, %(std)s, %(nan_share)s);
