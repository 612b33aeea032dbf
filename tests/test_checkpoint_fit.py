"""Checkpoints that do not fit the model: tools/test.py refuses them unless --allow-partial,
tools/train.py's load_from loads what fits and says in one line what did not."""
import json
import os.path as osp
import re
import subprocess
import sys

import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

from hs_backbone.state_dict_fit import StateDictFit, compare_state_dicts

from .conftest import ROOT, load_tool, run_checked

DET_CONFIG = 'configs/demo/mask-rcnn_hs-r50_fpn_demo.py'
SEG_CONFIG = 'configs/demo/deeplabv3plus_hs-r50-d8_demo.py'
NO_VAL = ['val_cfg=None', 'val_dataloader=None', 'val_evaluator=None']


def model_state_dict(config):
    cfg = Config.fromfile(osp.join(ROOT, config))
    init_default_scope(cfg.default_scope)
    registry = __import__(f'{cfg.default_scope}.registry', fromlist=['MODELS'])
    return registry.MODELS.build(cfg.model).state_dict()


def save(state_dict, path):
    torch.save(dict(state_dict=state_dict, meta=dict()), path)
    return str(path)


def test_compare_names_every_kind_of_misfit():
    expected = {'a': torch.zeros(2), 'b': torch.zeros(2), 'c': torch.zeros(3)}
    given = {'a': torch.ones(2), 'c': torch.zeros(4), 'd': torch.zeros(1)}
    fit = compare_state_dicts(expected, given)
    assert fit == StateDictFit(loaded=['a'], missing=['b'], unexpected=['d'], wrong_shape=['c'])
    assert not fit.complete
    assert fit.summary() == \
        '1 of 3 tensors loaded; missing 1 (b), unexpected 1 (d), wrong shape 1 (c)'
    assert compare_state_dicts(expected, expected).complete
    many = StateDictFit([], [f'k{i}' for i in range(5)], [], [])
    assert many.summary(first=2) == \
        '0 of 5 tensors loaded; missing 5 (k0, k1, ...), unexpected 0, wrong shape 0'


def test_test_tool_refuses_a_checkpoint_of_another_model(tiny_demo_data, tmp_path):
    # the case: the demo Mask R-CNN's weights (scales=6) evaluated with scales=4,
    # and one weight missing besides
    state_dict = model_state_dict(DET_CONFIG)
    del state_dict['roi_head.mask_head.conv_logits.weight']
    checkpoint = save(state_dict, tmp_path / 'mask-rcnn.pth')
    cmd = [sys.executable, 'tools/test.py', DET_CONFIG, checkpoint, '--work-dir', str(tmp_path),
           '--cfg-options', 'model.backbone.scales=4',
           *load_tool('demo').data_options('det', tiny_demo_data)]

    refused = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert refused.returncode != 0
    error = refused.stderr.strip().splitlines()[-1]
    assert error.startswith(f'ValueError: checkpoint {checkpoint} does not fit the model of '
                            f'{DET_CONFIG}: ')
    assert 'missing 1 (roi_head.mask_head.conv_logits.weight)' in error
    # scales=6 has more per-scale convs (unexpected) and wider ones (wrong shape)
    for kind in ('unexpected', 'wrong shape'):
        found = re.search(kind + r' (\d+) \((backbone\.layer1\.0\.[^,]+, ){3}\.\.\.\)', error)
        assert found and int(found.group(1)) > 10, error
    assert error.endswith('or pass --allow-partial to evaluate it anyway.')
    assert 'Iter(test)' not in refused.stdout + refused.stderr
    assert not (tmp_path / 'metrics.json').exists()

    # asked for explicitly, it evaluates, and the metrics record says the load was partial
    log = run_checked(cmd + ['--allow-partial'])
    assert f'--allow-partial: checkpoint {checkpoint}: ' in log
    record = json.loads((tmp_path / 'metrics.json').read_text())
    assert 'coco/bbox_mAP' in record['metrics']
    assert record['partial_load'] == error.split(': ', 2)[2].split('. Check the config')[0]


def test_train_tool_logs_what_of_load_from_fits(tiny_demo_data, tmp_path):
    state_dict = model_state_dict(SEG_CONFIG)
    total = len(state_dict)
    del state_dict['auxiliary_head.conv_seg.bias']
    state_dict['decode_head.conv_seg.weight'] = torch.zeros(5, 1, 1, 1)
    state_dict['extra.weight'] = torch.zeros(1)
    checkpoint = save(state_dict, tmp_path / 'deeplab.pth')

    # fine-tuning loads non-strictly: the run trains, with one line on what was loaded
    log = run_checked([
        sys.executable, 'tools/train.py', SEG_CONFIG, '--work-dir', str(tmp_path / 'work'),
        '--cfg-options', f'load_from={checkpoint}', 'train_cfg.max_iters=1',
        'default_hooks.logger.interval=1', 'train_dataloader.batch_size=2',
        *load_tool('demo').data_options('seg', tiny_demo_data), *NO_VAL])
    line = (f'load_from {checkpoint}: {total - 2} of {total} tensors loaded; missing 1 '
            '(auxiliary_head.conv_seg.bias), unexpected 1 (extra.weight), wrong shape 1 '
            '(decode_head.conv_seg.weight)')
    assert line in log
    assert log.index(line) < log.index('Iter(train) [1/1]')
    assert (tmp_path / 'work' / 'iter_1.pth').is_file()
