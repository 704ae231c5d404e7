import pytest

from ssd2ncnn.config import PRESETS, SSDConfig, get_preset
from ssd2ncnn.errors import InputError
from ssd2ncnn.model.ssdlite import SSDLite


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_config_round_trips_through_plain_dict(name):
    cfg = get_preset(name)
    assert SSDConfig.from_dict(cfg.to_dict()) == cfg


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_step_rule_reproduces_the_presets_strides(name):
    cfg = get_preset(name)
    sizes = SSDLite(get_preset(name, width_mult=0.25)).feature_sizes(cfg.input_size, cfg.input_size)
    assert [cfg.step_for(cfg.input_size, h) for h, _ in sizes] == list(cfg.strides)


def test_voc300_matches_the_seed_model():
    cfg = get_preset("voc300")
    assert cfg.num_classes == 21 and cfg.class_names[0] == "background"
    assert [cfg.priors_per_cell(k) for k in range(6)] == [4, 6, 6, 6, 4, 4]
    assert cfg.norm_vals == (1.0, 1.0, 1.0)


def test_num_classes_override_names_classes_and_counts_background():
    cfg = get_preset("ssdlite320", num_classes=4)
    assert cfg.class_names == ("background", "class1", "class2", "class3")


def test_new_input_size_scales_anchor_sizes():
    cfg = get_preset("voc300", input_size=150)
    assert cfg.min_sizes[0] == 30 and cfg.max_sizes[-1] == 150


@pytest.mark.parametrize(
    "kw, msg",
    [
        ({"num_classes": 1}, "background"),
        ({"width_mult": 0.0}, "width_mult"),
    ],
)
def test_bad_overrides_are_input_errors(kw, msg):
    with pytest.raises(InputError, match=msg):
        get_preset("voc300", **kw)


def test_unknown_preset_lists_the_choices():
    with pytest.raises(InputError, match="ssdlite320"):
        get_preset("yolo")


def test_unknown_config_field_is_refused():
    d = get_preset("voc300").to_dict() | {"anchors": 3}
    with pytest.raises(InputError, match="unknown config field.*anchors"):
        SSDConfig.from_dict(d)
