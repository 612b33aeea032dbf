"""Make a tiny ImageNet-layout classification set from the demo scenes, for pretraining offline.

Every annotated object of ``tools/make_demo_data.py``'s COCO files is cropped (its box plus a
margin of context) into ``<out>/imagenet/{train,val}/<class>/<scene>_<annotation id>.png``, the
folder-per-class layout that mmpretrain's ``CustomDataset`` (and ``ImageNet``) read. Train crops
come from train scenes and val crops from val scenes. Deterministic; a second run with the
same input rewrites identical files.

Example:
    python tools/make_demo_data.py && python tools/make_demo_classification.py
    # -> data/demo/imagenet/train/box/*.png, ...
"""
import argparse
import json
import os
import os.path as osp

import cv2

MARGIN = 0.15  # of the box's longer side, on every side


def crop_objects(coco_root, split, out_dir):
    """Write the crops of one split; return how many per class."""
    with open(osp.join(coco_root, 'annotations', f'instances_{split}.json')) as f:
        coco = json.load(f)
    classes = {c['id']: c['name'] for c in coco['categories']}
    images = {im['id']: im for im in coco['images']}
    counts = {name: 0 for name in classes.values()}
    loaded = {}
    for ann in sorted(coco['annotations'], key=lambda a: a['id']):
        image = images[ann['image_id']]
        if image['id'] not in loaded:
            loaded = {image['id']: cv2.imread(osp.join(coco_root, split, image['file_name']))}
        pixels = loaded[image['id']]
        x, y, w, h = ann['bbox']
        pad = MARGIN * max(w, h)
        x0, y0 = max(int(x - pad), 0), max(int(y - pad), 0)
        x1 = min(int(x + w + pad) + 1, pixels.shape[1])
        y1 = min(int(y + h + pad) + 1, pixels.shape[0])
        name = classes[ann['category_id']]
        folder = osp.join(out_dir, split, name)
        os.makedirs(folder, exist_ok=True)
        stem = osp.splitext(image['file_name'])[0]
        cv2.imwrite(osp.join(folder, f'{stem}_{ann["id"]:06d}.png'), pixels[y0:y1, x0:x1])
        counts[name] += 1
    return counts


def make_demo_classification(data_dir='data/demo', out_dir=None):
    """Crop the demo scenes' objects into ``<out_dir>/{train,val}/<class>/``.

    Args:
        data_dir (str): Output folder of ``make_demo_data`` (holds ``coco/``).
        out_dir (str, optional): Where to write. Default: ``<data_dir>/imagenet``.

    Returns:
        dict: ``root`` and the per-class ``counts`` of each split.
    """
    coco_root = osp.join(data_dir, 'coco')
    if not osp.isfile(osp.join(coco_root, 'annotations', 'instances_train.json')):
        raise FileNotFoundError(f'{coco_root} has no demo annotations: run '
                                'tools/make_demo_data.py first')
    out_dir = out_dir or osp.join(data_dir, 'imagenet')
    counts = {split: crop_objects(coco_root, split, out_dir) for split in ('train', 'val')}
    return dict(root=out_dir, counts=counts)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--data-dir', default='data/demo', help='make_demo_data output')
    parser.add_argument('--out', help='output folder (default: <data-dir>/imagenet)')
    args = parser.parse_args(argv)
    info = make_demo_classification(args.data_dir, args.out)
    print(f'wrote {info["root"]}: {info["counts"]}')


if __name__ == '__main__':
    main()
