"""Tests of tools/make_demo_data.py: exact COCO / Cityscapes layouts, determinism, reuse."""

import glob
import importlib.util
import json
import os
import os.path as osp
import sys

import cv2
import numpy as np
import pytest

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
NUM_TRAIN, NUM_VAL, SIZE = 6, 3, 128
CLASSES = ('box', 'disc', 'triangle')
TRAIN_IDS = {'box': 13, 'disc': 18, 'triangle': 7}


def _load_tool():
    if 'make_demo_data' not in sys.modules:
        spec = importlib.util.spec_from_file_location(
            'make_demo_data', osp.join(ROOT, 'tools', 'make_demo_data.py'))
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        sys.modules['make_demo_data'] = module
    return sys.modules['make_demo_data']


def _make(out_dir, **kwargs):
    kwargs = dict(dict(num_train=NUM_TRAIN, num_val=NUM_VAL, size=SIZE, verbose=False), **kwargs)
    return _load_tool().make_demo_data(str(out_dir), **kwargs)


@pytest.fixture(scope='module')
def demo(tmp_path_factory):
    return _make(tmp_path_factory.mktemp('demo') / 'demo')


def _files(root):
    return sorted(osp.relpath(p, root)
                  for p in glob.glob(osp.join(root, '**', '*'), recursive=True)
                  if osp.isfile(p))


def test_layout_and_counts(demo):
    assert demo['created']
    assert demo['classes'] == list(CLASSES)
    assert demo['counts']['train']['images'] == NUM_TRAIN
    assert demo['counts']['val']['images'] == NUM_VAL
    for split, num in (('train', NUM_TRAIN), ('val', NUM_VAL)):
        assert len(glob.glob(osp.join(demo['coco'][f'{split}_img_dir'], '*.png'))) == num
        imgs = glob.glob(osp.join(demo['cityscapes'][f'{split}_img_dir'], '*',
                                  '*_leftImg8bit.png'))
        anns = glob.glob(osp.join(demo['cityscapes'][f'{split}_ann_dir'], '*',
                                  '*_gtFine_labelTrainIds.png'))
        assert len(imgs) == len(anns) == num
    with open(demo['meta']) as f:
        meta = json.load(f)
    assert meta['complete']
    assert meta['args'] == dict(num_train=NUM_TRAIN, num_val=NUM_VAL, size=SIZE, seed=0)
    assert meta['cityscapes_train_ids'] == TRAIN_IDS
    assert sorted(meta['files']) == [f for f in _files(demo['out_dir']) if f != 'meta.json']


@pytest.mark.parametrize('split', ['train', 'val'])
def test_coco_annotations(demo, split):
    from pycocotools.coco import COCO

    coco = COCO(demo['coco'][f'{split}_ann'])
    cats = coco.loadCats(coco.getCatIds())
    assert [(c['id'], c['name']) for c in cats] == [(1, 'box'), (2, 'disc'), (3, 'triangle')]
    assert len(coco.getImgIds()) == (NUM_TRAIN if split == 'train' else NUM_VAL)
    for img_id in coco.getImgIds():
        info = coco.loadImgs(img_id)[0]
        assert (info['height'], info['width']) == (SIZE, SIZE)
        image = cv2.imread(osp.join(demo['coco'][f'{split}_img_dir'], info['file_name']))
        assert image is not None and image.shape == (SIZE, SIZE, 3)
        anns = coco.loadAnns(coco.getAnnIds(imgIds=img_id))
        assert 1 <= len(anns) <= 3
        for ann in anns:
            assert ann['iscrowd'] == 0
            assert isinstance(ann['segmentation'], list) and ann['segmentation']
            assert all(len(poly) >= 6 and len(poly) % 2 == 0 for poly in ann['segmentation'])
            x, y, w, h = ann['bbox']
            assert ann['area'] >= 100 and w * h >= ann['area']
            mask = coco.annToMask(ann).astype(bool)
            # the polygon is decoded inside its box, with the same tight box to within 1 px
            outside = mask.copy()
            outside[y:y + h, x:x + w] = False
            assert not outside.any()
            ys, xs = np.nonzero(mask)
            tight = (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)
            assert np.abs(np.subtract(tight, (x, y, x + w, y + h))).max() <= 1
            assert abs(int(mask.sum()) - ann['area']) <= max(3, 0.01 * ann['area'])


@pytest.mark.parametrize('split', ['train', 'val'])
def test_cityscapes_labels_match_coco(demo, split):
    from pycocotools.coco import COCO

    coco = COCO(demo['coco'][f'{split}_ann'])
    ann_dir = demo['cityscapes'][f'{split}_ann_dir']
    for img_id in coco.getImgIds():
        stem = osp.splitext(coco.loadImgs(img_id)[0]['file_name'])[0]
        city = stem.rsplit('_', 2)[0]
        label = cv2.imread(osp.join(ann_dir, city, f'{stem}_gtFine_labelTrainIds.png'),
                           cv2.IMREAD_UNCHANGED)
        assert label.dtype == np.uint8 and label.shape == (SIZE, SIZE)
        assert set(np.unique(label).tolist()) <= set(range(19)) | {255}
        coco_img = cv2.imread(osp.join(demo['coco'][f'{split}_img_dir'], f'{stem}.png'))
        cs_img = cv2.imread(osp.join(demo['cityscapes'][f'{split}_img_dir'], city,
                                     f'{stem}_leftImg8bit.png'))
        assert np.array_equal(coco_img, cs_img)
        objects = np.zeros(label.shape, bool)
        for ann in coco.loadAnns(coco.getAnnIds(imgIds=img_id)):
            mask = coco.annToMask(ann).astype(bool)
            objects |= mask
            train_id = TRAIN_IDS[CLASSES[ann['category_id'] - 1]]
            assert (label[mask] == train_id).mean() > 0.98
        # everything that is not an annotated object is background (road)
        assert (label[~objects] == 0).mean() > 0.98


def test_mmseg_cityscapes_dataset(demo):
    from mmseg.datasets import CityscapesDataset

    for split, num in (('train', NUM_TRAIN), ('val', NUM_VAL)):
        dataset = CityscapesDataset(
            data_root=demo['cityscapes']['root'],
            data_prefix=dict(img_path=f'leftImg8bit/{split}', seg_map_path=f'gtFine/{split}'),
            pipeline=[])
        assert len(dataset) == num
        for info in dataset:
            assert osp.isfile(info['img_path']) and osp.isfile(info['seg_map_path'])


def test_mmdet_coco_dataset(demo):
    from mmdet.datasets import CocoDataset

    for split, num in (('train', NUM_TRAIN), ('val', NUM_VAL)):
        dataset = CocoDataset(
            data_root=demo['coco']['root'],
            ann_file=f'annotations/instances_{split}.json',
            data_prefix=dict(img=f'{split}/'),
            metainfo=dict(classes=CLASSES),
            pipeline=[])
        assert len(dataset) == num
        assert dataset.metainfo['classes'] == CLASSES
        num_instances = 0
        for info in dataset:
            assert osp.isfile(info['img_path'])
            assert info['instances']
            for inst in info['instances']:
                assert inst['bbox_label'] in (0, 1, 2) and inst['ignore_flag'] == 0
                x1, y1, x2, y2 = inst['bbox']
                assert 0 <= x1 < x2 <= SIZE and 0 <= y1 < y2 <= SIZE
                assert inst['mask'] and isinstance(inst['mask'], list)
            num_instances += len(info['instances'])
        assert num_instances == demo['counts'][split]['instances']


def test_train_and_val_differ(demo):
    def contents(split):
        return {open(p, 'rb').read()
                for p in glob.glob(osp.join(demo['coco'][f'{split}_img_dir'], '*.png'))}

    train, val = contents('train'), contents('val')
    assert len(train) == NUM_TRAIN and len(val) == NUM_VAL
    assert not train & val


def test_deterministic(demo, tmp_path):
    other = _make(tmp_path / 'again')
    assert other['content_hash'] == demo['content_hash']
    files = _files(demo['out_dir'])
    assert files == _files(other['out_dir'])
    for rel in files:
        with open(osp.join(demo['out_dir'], rel), 'rb') as a, \
                open(osp.join(other['out_dir'], rel), 'rb') as b:
            assert a.read() == b.read(), rel
    # another seed gives another dataset
    assert _make(tmp_path / 'seed1', seed=1)['content_hash'] != demo['content_hash']


def test_rerun_is_noop_and_force_rewrites(tmp_path, capsys):
    out = tmp_path / 'demo'
    _make(out, num_train=2, num_val=1)
    root = str(out)

    def mtimes():
        return {rel: os.stat(osp.join(root, rel)).st_mtime_ns for rel in _files(root)}

    # age every file, so a rewrite shows up whatever the file system's timestamp resolution
    for rel in _files(root):
        os.utime(osp.join(root, rel), ns=(10**18, 10**18))
    before = mtimes()
    result = _make(out, num_train=2, num_val=1, verbose=True)
    assert not result['created']
    assert 'up to date' in capsys.readouterr().out
    assert mtimes() == before

    result = _make(out, num_train=2, num_val=1, force=True)
    assert result['created']
    after = mtimes()
    assert sorted(after) == sorted(before)
    assert all(after[rel] != before[rel] for rel in after)

    # other arguments regenerate without --force, since the folder is the tool's own
    result = _make(out, num_train=3, num_val=1)
    assert result['created'] and result['counts']['train']['images'] == 3
    assert len(glob.glob(osp.join(root, 'coco', 'train', '*.png'))) == 3


def test_refuses_foreign_folder_and_bad_args(tmp_path):
    out = tmp_path / 'demo'
    os.makedirs(out / 'coco')
    with pytest.raises(FileExistsError):
        _make(out, num_train=1, num_val=1)
    assert _make(out, num_train=1, num_val=1, force=True)['created']
    with pytest.raises(ValueError):
        _make(tmp_path / 'bad', size=32)
    with pytest.raises(ValueError):
        _make(tmp_path / 'bad', num_train=0)


def test_cli(tmp_path, capsys):
    tool = _load_tool()
    out = str(tmp_path / 'cli')
    argv = ['--out', out, '--num-train', '2', '--num-val', '1', '--size', '64', '--seed', '3']
    assert tool.main(argv) == 0
    assert 'train: 2 scenes' in capsys.readouterr().out
    assert tool.main(argv) == 0
    assert 'nothing to do' in capsys.readouterr().out
    with open(osp.join(out, 'meta.json')) as f:
        assert json.load(f)['args'] == dict(num_train=2, num_val=1, size=64, seed=3)
