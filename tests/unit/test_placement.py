"""Multi-node placement options: custom resources (hard) and preferred node labels (soft)."""

import pytest

from app.config import ConfigError, load_config
from cluster.placement import replica_actor_options


def _model(**deployment):
    return load_config({"models": [{"name": "m", "source": "m", "deployment": deployment}]}).models[0]


def test_custom_resources_and_preferred_labels_reach_the_actor_options():
    opts = replica_actor_options(_model(resources={"llm_host": 0.01}, preferred_labels={"fanyi-pool": "gpu"}))
    assert opts["resources"] == {"llm_host": 0.01}
    assert opts["label_selector"] == {"fanyi-pool": "gpu"}
    assert opts["fallback_strategy"] == [{"label_selector": {}}]  # any node once no labelled one can


def test_no_placement_options_by_default():
    opts = replica_actor_options(_model())
    assert not {"resources", "label_selector", "fallback_strategy"} & opts.keys()


@pytest.mark.parametrize("resources", [{"GPU": 1}, {"llm_host": 0}])
def test_builtin_or_empty_resources_rejected(resources):
    with pytest.raises(ConfigError, match="args.models.0.deployment"):
        _model(resources=resources)


def test_router_takes_no_placement_options():
    with pytest.raises(ConfigError, match="args.router.resources"):
        load_config({"models": [{"name": "m", "source": "m"}], "router": {"resources": {"x": 1}}})
