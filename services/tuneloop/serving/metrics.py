"""Prometheus metrics of the serving service (calls by status code and their latency are the
interceptor's, like every service's)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

PREDICTIONS = Counter("tuneloop_serving_predictions_total", "Predictions answered, by the model version that "
                      "answered.", ["model_version"])
LATENCY = Histogram("tuneloop_serving_prediction_seconds", "From a prediction's arrival to its answer (queueing "
                    "and batching included), by model version.", ["model_version"],
                    buckets=(.002, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30))
BATCH_SIZE = Histogram("tuneloop_serving_batch_size", "Requests run together in one batch.", ["model_version"],
                       buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256))
REFUSED = Counter("tuneloop_serving_refused_total", "Predictions refused because the version's queue was full.",
                  ["model_version"])
LOADED = Gauge("tuneloop_serving_loaded_versions", "Model versions loaded.")
SWAPS = Counter("tuneloop_serving_swaps_total", "Times an alias's traffic switched to another version.",
                ["model", "alias"])
UNLOGGED = Counter("tuneloop_serving_unlogged_total", "Sampled predictions left out of the prediction log (its "
                   "queue full, or the database failed).")
FEEDBACK = Counter("tuneloop_serving_feedback_total", "True labels fed back, by the model version that predicted.",
                   ["model_version"])
FEEDBACK_APPENDED = Counter("tuneloop_serving_feedback_appended_total", "Feedback rows appended to a dataset.",
                            ["dataset"])
LIVE_ACCURACY = Gauge("tuneloop_serving_live_accuracy", "Accuracy on the latest feedback (the live window), by model "
                      "version.", ["model_version"])
LIVE_F1 = Gauge("tuneloop_serving_live_f1_macro", "Macro-F1 on the latest feedback (the live window), by model "
                "version.", ["model_version"])
LIVE_FEEDBACK = Gauge("tuneloop_serving_live_feedback", "Feedback rows in the live window, by model version.",
                      ["model_version"])
SHADOW_AGREEMENT = Counter("tuneloop_serving_shadow_answers_total", "Shadow answers, by the shadow version and whether "
                           "they agreed with the answer returned.", ["model_version", "outcome"])
SHADOW_SKIPPED = Counter("tuneloop_serving_shadow_skipped_total", "Requests not copied to the shadow (its queue full, "
                         "or the input not one it takes).", ["model_version"])
LABEL_SHIFT = Gauge("tuneloop_serving_label_shift", "Total variation distance between the latest predictions' label "
                    "shares and the training split's, by model version.", ["model_version"])
LENGTH_SHIFT = Gauge("tuneloop_serving_length_shift", "KS statistic of the latest inputs' lengths against the training "
                     "split's, by model version.", ["model_version"])
UNSEEN_WORDS = Gauge("tuneloop_serving_unseen_words", "Share of the latest inputs' words the training split never "
                     "contains, by model version.", ["model_version"])
