"""A shortened `make demo`: data, training and evaluation through tools/train.py and
tools/test.py for both tasks, the summary JSON and the picture."""
import json
import sys

import cv2

from .conftest import run_checked


def test_short_demo_end_to_end(tiny_demo_data, tmp_path):
    work_dir = tmp_path / 'demo'
    cmd = [sys.executable, 'tools/demo.py', '--data-dir', tiny_demo_data['out_dir'],
           '--num-train', '8', '--num-val', '4', '--work-dir', str(work_dir),
           '--det-iters', '2', '--seg-iters', '2', '--num-pictures', '2']
    output = run_checked(cmd)
    # progress of training and testing is shown live
    assert 'Iter(train) [2/2]' in output
    assert 'Iter(test)' in output

    summary = json.loads((work_dir / 'summary.json').read_text())
    assert summary['data']['counts'] == tiny_demo_data['counts']
    assert summary['machine']['cpu_count'] >= 1
    tasks = {t['task']: t for t in summary['tasks']}
    assert set(tasks) == {'instance segmentation', 'semantic segmentation'}
    det, seg = tasks['instance segmentation'], tasks['semantic segmentation']
    assert set(det['metrics']) == {'coco/bbox_mAP', 'coco/segm_mAP'}
    assert all(0 <= v <= 1 for v in det['metrics'].values())
    assert 0 <= seg['metrics']['mIoU'] <= 100
    for task in (det, seg):
        assert task['train_iters'] == 2
        assert task['train_seconds'] > 0 and task['test_seconds'] > 0
        assert set(task['aims']) <= set(task['metrics'])
    # the table printed at the end
    assert 'coco/bbox_mAP' in output and 'mIoU' in output

    picture = cv2.imread(summary['picture'])
    # two scenes of 256 px under a header strip, three panels side by side
    assert picture.shape[0] > 2 * 256 and picture.shape[1] == 3 * 256

    # a second run finds the trained checkpoints and only evaluates
    again = run_checked(cmd + ['--num-pictures', '0'])
    assert again.count('not retraining') == 2
