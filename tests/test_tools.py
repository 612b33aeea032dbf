"""The configs train and test through the tools packaged in mmdet and mmseg, and ours fail
clearly on bad input. (tests/test_demo.py runs this repo's train/test tools end to end.)"""
import os.path as osp
import sys

import pytest

from .conftest import ROOT, load_tool, run_checked

PACKAGED = {
    codebase: osp.join(osp.dirname(__import__(codebase).__file__), '.mim', 'tools')
    for codebase in ('mmdet', 'mmseg')
}
DET_CONFIG = 'configs/demo/mask-rcnn_hs-r50_fpn_demo.py'
SEG_CONFIG = 'configs/demo/deeplabv3plus_hs-r50-d8_demo.py'
NO_VAL = ['val_cfg=None', 'val_dataloader=None', 'val_evaluator=None']


def run(args):
    return run_checked([sys.executable, *args])


def data_options(task, data):
    return load_tool('demo').data_options(task, data)


def test_packaged_mmdet_tools_train_resume_and_test(tiny_demo_data, tmp_path):
    train, test = (osp.join(PACKAGED['mmdet'], f'{t}.py') for t in ('train', 'test'))
    common = data_options('det', tiny_demo_data) + ['train_dataloader.batch_size=2']
    run([train, DET_CONFIG, '--work-dir', str(tmp_path), '--cfg-options',
         'train_cfg.max_iters=2', 'default_hooks.checkpoint.interval=2', *common, *NO_VAL])
    assert (tmp_path / 'iter_2.pth').is_file()

    # mmdet's own --resume reads the Runner checkpoint back (torch >= 2.6 refuses it without
    # the loader that custom_imports installs) and continues from iteration 2
    log = run([train, DET_CONFIG, '--work-dir', str(tmp_path), '--resume', '--cfg-options',
               'train_cfg.max_iters=3', 'default_hooks.checkpoint.interval=1', *common,
               *NO_VAL])
    assert 'resumed epoch: 0, iter: 2' in log
    assert (tmp_path / 'iter_3.pth').is_file()

    log = run([test, DET_CONFIG, str(tmp_path / 'iter_3.pth'), '--work-dir', str(tmp_path),
               '--cfg-options', *data_options('det', tiny_demo_data)])
    assert 'coco/bbox_mAP:' in log and 'coco/segm_mAP:' in log


def test_packaged_mmseg_tools_train_and_test(tiny_demo_data, tmp_path):
    train, test = (osp.join(PACKAGED['mmseg'], f'{t}.py') for t in ('train', 'test'))
    run([train, SEG_CONFIG, '--work-dir', str(tmp_path), '--cfg-options',
         'train_cfg.max_iters=2', 'default_hooks.checkpoint.interval=2',
         'train_dataloader.batch_size=2', *data_options('seg', tiny_demo_data), *NO_VAL])
    log = run([test, SEG_CONFIG, str(tmp_path / 'iter_2.pth'), '--work-dir', str(tmp_path),
               '--cfg-options', *data_options('seg', tiny_demo_data)])
    assert 'mIoU:' in log


def test_train_tool_rejects_bad_input(tmp_path):
    train = load_tool('train')
    with pytest.raises(FileNotFoundError, match='config file nope.py does not exist'):
        train.main(['nope.py'])
    with pytest.raises(FileNotFoundError, match='--resume checkpoint .*missing.pth'):
        train.main([osp.join(ROOT, DET_CONFIG), '--work-dir', str(tmp_path), '--resume',
                    str(tmp_path / 'missing.pth')])
    plain = tmp_path / 'plain.py'
    plain.write_text('model = dict(type="Foo")\n')
    with pytest.raises(ValueError, match=r"default_scope must be one of \('mmdet', 'mmseg'"):
        train.main([str(plain)])


def test_test_tool_rejects_bad_input(tmp_path):
    test_tool = load_tool('test')
    with pytest.raises(FileNotFoundError, match='checkpoint .*missing.pth does not exist'):
        test_tool.main([osp.join(ROOT, DET_CONFIG), str(tmp_path / 'missing.pth'),
                        '--work-dir', str(tmp_path)])
    checkpoint = tmp_path / 'model.pth'
    checkpoint.write_bytes(b'')
    with pytest.raises(ValueError, match='--out must be a .pkl or .pickle file for mmdet'):
        test_tool.main([osp.join(ROOT, DET_CONFIG), str(checkpoint), '--out', 'preds.json',
                        '--work-dir', str(tmp_path)])
