"""Draw the demo models' predictions on val scenes into one PNG (used by tools/demo.py).

One row per scene: Mask R-CNN boxes and masks, the ground-truth segmentation, DeepLabv3+'s
segmentation, drawn by mmdet's and mmseg's own visualizers.
"""
import json
import os
import os.path as osp
import tempfile

import cv2
import numpy as np

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
HEADERS = {'det': ['Mask R-CNN HS-R50: prediction'],
           'seg': ['ground truth', 'DeepLabv3+ HS-R50: prediction']}


def _val_scenes(data, num):
    with open(data['coco']['val_ann']) as f:
        images = sorted(json.load(f)['images'], key=lambda im: im['id'])[:num]
    scenes = []
    for image in images:
        stem = osp.splitext(image['file_name'])[0]
        city = stem.split('_')[0]
        scenes.append(dict(
            coco=osp.join(data['coco']['root'], 'val', image['file_name']),
            cityscapes=osp.join(data['cityscapes']['val_img_dir'], city,
                                f'{stem}_leftImg8bit.png'),
            label=osp.join(data['cityscapes']['val_ann_dir'], city,
                           f'{stem}_gtFine_labelTrainIds.png')))
    return scenes


def _draw_det(record, scenes):
    from mmdet.apis import inference_detector, init_detector
    from mmdet.visualization import DetLocalVisualizer
    model = init_detector(osp.join(ROOT, record['config']), record['checkpoint'], device='cpu')
    visualizer = DetLocalVisualizer(name='hs_backbone_demo_det')
    visualizer.dataset_meta = model.dataset_meta
    columns = []
    for scene in scenes:
        result = inference_detector(model, scene['coco'])
        image = cv2.imread(scene['coco'])[..., ::-1]
        columns.append([_drawn(visualizer, image, result, draw_gt=False, pred_score_thr=0.5)])
    return columns


def _draw_seg(record, scenes):
    import torch
    from mmengine.structures import PixelData
    from mmseg.apis import inference_model, init_model
    from mmseg.visualization import SegLocalVisualizer
    model = init_model(osp.join(ROOT, record['config']), record['checkpoint'], device='cpu')
    visualizer = SegLocalVisualizer(name='hs_backbone_demo_seg', alpha=0.6)
    visualizer.dataset_meta = model.dataset_meta
    columns = []
    for scene in scenes:
        result = inference_model(model, scene['cityscapes'])
        label = cv2.imread(scene['label'], cv2.IMREAD_UNCHANGED)
        result.gt_sem_seg = PixelData(data=torch.from_numpy(label.astype(np.int64))[None])
        image = cv2.imread(scene['cityscapes'])[..., ::-1]
        # with_labels=False: class names do not fit on 256-pixel scenes
        both = _drawn(visualizer, image, result, draw_gt=True, draw_pred=True,
                      with_labels=False)
        width = both.shape[1] // 2
        columns.append([both[:, :width], both[:, width:]])
    return columns


def _drawn(visualizer, image, data_sample, **kwargs):
    # add_datasample returns nothing and, without out_file, hands the drawing to the
    # visualizer's backends only: read it back from a file.
    with tempfile.TemporaryDirectory() as tmp:
        out_file = osp.join(tmp, 'drawn.png')
        visualizer.add_datasample('demo', image, data_sample=data_sample, show=False,
                                  out_file=out_file, **kwargs)
        return cv2.imread(out_file)[..., ::-1]


def _header(text, width, height=24):
    strip = np.full((height, width, 3), 255, np.uint8)
    cv2.putText(strip, text, (4, height - 8), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (0, 0, 0), 1,
                cv2.LINE_AA)
    return strip


def draw_predictions(records, data, out_file, num_scenes=4):
    """Write a grid of predictions on ``num_scenes`` val scenes to ``out_file``.

    Args:
        records (list[dict]): tools/demo.py task records (``config``, ``checkpoint``, ``task``).
        data (dict): The result of ``make_demo_data``.
        out_file (str): PNG to write.
        num_scenes (int): Rows of the grid. Default: 4.

    Returns:
        str: ``out_file``.
    """
    scenes = _val_scenes(data, num_scenes)
    drawers = {'instance segmentation': ('det', _draw_det),
               'semantic segmentation': ('seg', _draw_seg)}
    rows = [[] for _ in scenes]
    headers = []
    for record in records:
        key, draw = drawers[record['task']]
        for row, cells in zip(rows, draw(record, scenes), strict=True):
            row.extend(cells)
        headers.extend(HEADERS[key])
    cells = [np.hstack(row) for row in rows]
    width = rows[0][0].shape[1]
    top = np.hstack([_header(text, width) for text in headers])
    grid = np.vstack([top] + cells)
    os.makedirs(osp.dirname(osp.abspath(out_file)), exist_ok=True)
    cv2.imwrite(out_file, np.ascontiguousarray(grid[..., ::-1]))
    return out_file
