"""Make a small embedded demo dataset in exact COCO and Cityscapes layouts.

Nothing is downloaded and no image is committed: every scene is composed at run time from
photographs that scikit-image ships inside its wheel, so that the detection and segmentation
configs of this project can be trained and evaluated end to end on any machine, offline.

A scene is a crop of a real photograph with 1-3 large textured shapes pasted on it. The shapes
are filled with crops of real texture photographs, tinted per class so that a model trained from
scratch for a few hundred iterations can learn them::

    id  COCO class  shape                      fill texture (tint)  Cityscapes trainId
    1   box         rotated rectangle          brick  (orange-red)  13 car
    2   disc        near-circular ellipse      gravel (blue)        18 bicycle
    3   triangle    near-equilateral triangle  grass  (green)        7 traffic sign
    -   background  photograph                 -                     0 road

Trainid 255 (ignore) is never written: every pixel is either background or a visible object.

Train and val are held apart: they use different background photographs (which become the
Cityscapes "cities") and different halves of each texture photograph::

    train backgrounds: astronaut, coffee, rocket, hubble_deep_field, immunohistochemistry,
                       camera, stereo_motorcycle (left view)
    val backgrounds:   chelsea, retina, moon
    textures:          brick, gravel, grass (train: top half, val: bottom half)

Objects are 40-120 px (longest side, at 256 px; scaled with ``size``) and lie wholly inside the
image. Later objects occlude earlier ones; a placement is rejected (and retried) when it would
leave an earlier object with less than 30% of its area or 100 px visible, or split it or punch a
hole in it. So every visible mask is one simply connected region, written as one polygon that
pycocotools decodes back to the exact mask (to within a pixel or two), and every object visible
in an image is annotated. ``bbox`` (xywh) is the exact mask's tight box and ``area`` its pixel
count.

Output layout (``<out>`` defaults to ``data/demo``)::

    <out>/meta.json                                       arguments, versions, file hashes
    <out>/coco/annotations/instances_{train,val}.json
    <out>/coco/{train,val}/<city>_<seq>_000019.png
    <out>/cityscapes/leftImg8bit/{train,val}/<city>/<city>_<seq>_000019_leftImg8bit.png
    <out>/cityscapes/gtFine/{train,val}/<city>/<city>_<seq>_000019_gtFine_labelTrainIds.png

The same scene image is written to both layouts. Everything is PNG and the JSON files hold no
timestamps, so the same arguments give byte-identical files (with the same library versions).
A second run with the same arguments does nothing; ``--force`` regenerates.

Example:
    From the command line::

        python tools/make_demo_data.py                      # data/demo, 96 train / 24 val
        python tools/make_demo_data.py --out /tmp/demo --num-train 8 --num-val 4 --size 128

    From Python::

        >>> from make_demo_data import make_demo_data  # with tools/ on sys.path
        >>> info = make_demo_data('/tmp/demo', num_train=8, num_val=4, size=128)
        >>> info['coco']['train_ann']
        '/tmp/demo/coco/annotations/instances_train.json'
"""

import argparse
import hashlib
import json
import os
import os.path as osp
import shutil
import sys

import cv2
import numpy as np

# Bump when the generated content changes for the same arguments, so that old outputs are
# regenerated instead of being reported as up to date.
VERSION = 1

CLASSES = ('box', 'disc', 'triangle')
# COCO category id (1-based) -> Cityscapes trainId
CITYSCAPES_TRAIN_IDS = {1: 13, 2: 18, 3: 7}
BACKGROUND_TRAIN_ID = 0
CITYSCAPES_NAMES = {0: 'road', 7: 'traffic sign', 13: 'car', 18: 'bicycle'}

# skimage.data loader name -> (city name, region of interest as fractions y0, y1, x0, x1).
# The ROI keeps crops off large black borders (retina's rim, which is itself a disc).
TRAIN_BACKGROUNDS = {
    'astronaut': ('astronaut', (0.0, 1.0, 0.0, 1.0)),
    'coffee': ('coffee', (0.0, 1.0, 0.0, 1.0)),
    'rocket': ('rocket', (0.0, 1.0, 0.0, 1.0)),
    'hubble_deep_field': ('hubble', (0.0, 1.0, 0.0, 1.0)),
    'immunohistochemistry': ('ihc', (0.0, 1.0, 0.0, 1.0)),
    'camera': ('camera', (0.0, 1.0, 0.0, 1.0)),
    'stereo_motorcycle': ('motorcycle', (0.0, 1.0, 0.0, 1.0)),
}
VAL_BACKGROUNDS = {
    'chelsea': ('chelsea', (0.0, 1.0, 0.0, 1.0)),
    'retina': ('retina', (0.25, 0.75, 0.25, 0.75)),
    'moon': ('moon', (0.0, 1.0, 0.0, 1.0)),
}
# class name -> (skimage.data texture photo, base RGB tint)
TEXTURES = {
    'box': ('brick', (205, 85, 45)),
    'disc': ('gravel', (60, 120, 225)),
    'triangle': ('grass', (80, 200, 60)),
}

MIN_VISIBLE_FRAC = 0.3
MIN_AREA = 100
MAX_OBJECTS = 3
MAX_PLACEMENT_TRIES = 50
CITYSCAPES_FRAME = '000019'  # Cityscapes annotates the 20th frame of each snippet
SPLITS = ('train', 'val')


def _load_photo(name):
    try:
        from skimage import data as skdata
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError('make_demo_data needs scikit-image for its photographs: '
                          'pip install scikit-image') from e
    img = getattr(skdata, name)()
    if isinstance(img, tuple):  # stereo_motorcycle returns (left, right, disparity)
        img = img[0]
    img = np.asarray(img)
    if img.dtype != np.uint8:
        raise TypeError(f'skimage.data.{name} is {img.dtype}, expected uint8')
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    return np.ascontiguousarray(img[..., :3])


def _skimage_version():
    import skimage

    return skimage.__version__


def _load_texture(name):
    gray = _load_photo(name)[..., 0].astype(np.float32)
    # A global stretch keeps the texture's real contrast while using the full range of the tint.
    lo, hi = np.percentile(gray, (2, 98))
    return np.clip((gray - lo) / max(hi - lo, 1.0), 0.0, 1.0)


def _crop_background(rng, photo, roi, size):
    h, w = photo.shape[:2]
    y0, y1 = int(roi[0] * h), int(roi[1] * h)
    x0, x1 = int(roi[2] * w), int(roi[3] * w)
    side_max = min(y1 - y0, x1 - x0)
    side = int(rng.integers(int(0.45 * side_max), side_max + 1))
    top = y0 + int(rng.integers(0, y1 - y0 - side + 1))
    left = x0 + int(rng.integers(0, x1 - x0 - side + 1))
    crop = photo[top:top + side, left:left + side]
    interp = cv2.INTER_AREA if side >= size else cv2.INTER_LINEAR
    crop = cv2.resize(crop, (size, size), interpolation=interp)
    if rng.random() < 0.5:
        crop = crop[:, ::-1]
    return np.ascontiguousarray(crop)


def _shape_polygon(rng, label, size):
    """Float polygon (N, 2) of one shape, wholly inside a ``size`` x ``size`` image."""
    scale = size / 256.0
    # A floor keeps the first object above MIN_AREA when --size is small.
    length = max(rng.uniform(40.0, 120.0) * scale, 16.0)
    if label == 'box':
        # Never square, so that a box is not a rotated disc-sized blob of the same extent.
        w, h = length, length * rng.uniform(0.5, 0.85)
        xs = np.array([-w, w, w, -w]) / 2
        ys = np.array([-h, -h, h, h]) / 2
        theta = np.deg2rad(rng.uniform(-30.0, 30.0))
    elif label == 'disc':
        t = np.linspace(0.0, 2 * np.pi, 72, endpoint=False)
        a = length / 2
        xs, ys = a * np.cos(t), a * rng.uniform(0.8, 1.0) * np.sin(t)
        theta = rng.uniform(0.0, np.pi)
    else:
        # Jittered vertices keep triangles varied; the limits keep them fat, never slivers.
        r = length / np.sqrt(3.0)
        ang = np.deg2rad(np.arange(3) * 120.0 + rng.uniform(-12.0, 12.0, 3))
        rad = r * rng.uniform(0.85, 1.0, 3)
        xs, ys = rad * np.cos(ang), rad * np.sin(ang)
        theta = rng.uniform(0.0, 2 * np.pi)
    c, s = np.cos(theta), np.sin(theta)
    pts = np.stack([c * xs - s * ys, s * xs + c * ys], axis=1)
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    offset = rng.uniform(-lo, (size - 1) - hi)
    return pts + offset


def _rasterize(pts, size):
    mask = np.zeros((size, size), np.uint8)
    # Sub-pixel vertices (4 fractional bits) without anti-aliasing give an exact binary mask.
    cv2.fillPoly(mask, [np.round(pts * 16).astype(np.int32)], 1, lineType=cv2.LINE_8, shift=4)
    return mask.astype(bool)


def _is_simple_region(mask):
    """True if ``mask`` is one 4-connected region without holes."""
    n, _ = cv2.connectedComponents(mask.astype(np.uint8), connectivity=4)
    if n != 2:
        return False
    contours = cv2.findContours(mask.astype(np.uint8), cv2.RETR_CCOMP,
                                cv2.CHAIN_APPROX_SIMPLE)[-2]
    return len(contours) == 1


def _mask_to_polygon(mask):
    """One COCO polygon that pycocotools rasterizes back to ``mask``.

    cv2 contours run through the centres of boundary pixels, but pycocotools fills the pixels
    whose centres lie inside the polygon, so a raw contour loses half of every boundary pixel.
    Tracing the mask at twice the resolution and mapping sub-pixel centres back puts the
    polygon a quarter pixel inside the true pixel edges: boundary pixels are kept and their
    neighbours are not.
    """
    up = np.kron(mask.astype(np.uint8), np.ones((2, 2), np.uint8))
    contours = cv2.findContours(up, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)[-2]
    assert len(contours) == 1, 'visible masks are simple regions by construction'
    pts = (contours[0].reshape(-1, 2).astype(np.float64) + 0.5) / 2.0
    return [float(v) for v in pts.ravel()]


def _texture_fill(rng, texture, split, label, box, size):
    """An RGB image of ``size`` with the object's textured fill inside ``box``."""
    x0, y0, x1, y1 = box
    w, h = x1 - x0 + 1, y1 - y0 + 1
    # Train and val use disjoint halves of the texture photo.
    half = texture.shape[0] // 2
    region = texture[:half] if split == 'train' else texture[half:]
    texel = rng.uniform(0.6, 1.4)
    ch = int(min(max(round(h * texel), 4), region.shape[0]))
    cw = int(min(max(round(w * texel), 4), region.shape[1]))
    top = int(rng.integers(0, region.shape[0] - ch + 1))
    left = int(rng.integers(0, region.shape[1] - cw + 1))
    patch = region[top:top + ch, left:left + cw]
    patch = np.rot90(patch, int(rng.integers(0, 4)))
    patch = cv2.resize(np.ascontiguousarray(patch), (w, h), interpolation=cv2.INTER_LINEAR)
    tint = np.asarray(TEXTURES[label][1], np.float32) + rng.uniform(-35.0, 35.0, 3)
    rgb = np.clip(tint[None, None] * (0.45 + 0.8 * patch[..., None]), 0, 255).astype(np.uint8)
    out = np.zeros((size, size, 3), np.uint8)
    out[y0:y1 + 1, x0:x1 + 1] = rgb
    return out


def _tight_box(mask):
    ys, xs = np.nonzero(mask)
    return int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max())


def _make_scene(rng, background, split, textures, size):
    """Compose one scene; returns (RGB image, label map, [(category id, visible mask)])."""
    img = background.copy()
    objects = []  # [category id, full mask, visible mask]
    n_target = int(rng.integers(1, MAX_OBJECTS + 1))
    for _ in range(MAX_PLACEMENT_TRIES):
        if len(objects) == n_target:
            break
        cat = int(rng.integers(len(CLASSES))) + 1
        label = CLASSES[cat - 1]
        mask = _rasterize(_shape_polygon(rng, label, size), size)
        if mask.sum() < MIN_AREA or not _is_simple_region(mask):
            continue
        new_visible = [vis & ~mask for _, _, vis in objects]
        if not all(v.sum() >= max(MIN_AREA, MIN_VISIBLE_FRAC * full.sum())
                   and _is_simple_region(v)
                   for v, (_, full, _) in zip(new_visible, objects, strict=True)):
            continue
        for obj, vis in zip(objects, new_visible, strict=True):
            obj[2] = vis
        fill = _texture_fill(rng, textures[label], split, label, _tight_box(mask), size)
        img[mask] = fill[mask]
        objects.append([cat, mask, mask.copy()])
    if not objects:
        raise RuntimeError(f'could not place any object in a {size}px scene')
    seg = np.full((size, size), BACKGROUND_TRAIN_ID, np.uint8)
    for cat, _, vis in objects:
        seg[vis] = CITYSCAPES_TRAIN_IDS[cat]
    return img, seg, [(cat, vis) for cat, _, vis in objects]


def _write_png(path, array):
    os.makedirs(osp.dirname(path), exist_ok=True)
    if array.ndim == 3:
        array = cv2.cvtColor(array, cv2.COLOR_RGB2BGR)
    ok, buf = cv2.imencode('.png', array)
    if not ok:
        raise OSError(f'could not encode {path}')
    with open(path, 'wb') as f:
        f.write(buf.tobytes())


def _write_json(path, obj):
    os.makedirs(osp.dirname(path), exist_ok=True)
    with open(path, 'w', encoding='utf-8') as f:
        json.dump(obj, f, separators=(',', ':'))
        f.write('\n')


def _sha256(path):
    h = hashlib.sha256()
    with open(path, 'rb') as f:
        for chunk in iter(lambda: f.read(1 << 20), b''):
            h.update(chunk)
    return h.hexdigest()


def _paths(out_dir):
    coco = osp.join(out_dir, 'coco')
    cityscapes = osp.join(out_dir, 'cityscapes')
    return dict(
        out_dir=out_dir,
        meta=osp.join(out_dir, 'meta.json'),
        coco=dict(
            root=coco,
            train_ann=osp.join(coco, 'annotations', 'instances_train.json'),
            val_ann=osp.join(coco, 'annotations', 'instances_val.json'),
            train_img_dir=osp.join(coco, 'train'),
            val_img_dir=osp.join(coco, 'val'),
        ),
        cityscapes=dict(
            root=cityscapes,
            train_img_dir=osp.join(cityscapes, 'leftImg8bit', 'train'),
            val_img_dir=osp.join(cityscapes, 'leftImg8bit', 'val'),
            train_ann_dir=osp.join(cityscapes, 'gtFine', 'train'),
            val_ann_dir=osp.join(cityscapes, 'gtFine', 'val'),
        ),
    )


def _result(paths, meta, created):
    return dict(paths, classes=list(CLASSES), counts=meta['counts'],
                content_hash=meta['content_hash'], created=created)


def _is_up_to_date(meta, args, out_dir):
    if not (meta.get('complete') and meta.get('version') == VERSION and meta.get('args') == args):
        return False
    return all(osp.getsize(osp.join(out_dir, rel)) == entry['bytes']
               if osp.isfile(osp.join(out_dir, rel)) else False
               for rel, entry in meta['files'].items())


def _clean(paths):
    for root in (paths['coco']['root'], paths['cityscapes']['root']):
        if osp.isdir(root):
            shutil.rmtree(root)
    if osp.exists(paths['meta']):
        os.remove(paths['meta'])


def _generate_split(split, num, size, seed, paths, photos, textures, log):
    backgrounds = TRAIN_BACKGROUNDS if split == 'train' else VAL_BACKGROUNDS
    images, annotations, written = [], [], []
    per_class = [0] * len(CLASSES)
    for i in range(num):
        # One stream per scene: a scene does not change when --num-train/--num-val do.
        rng = np.random.default_rng([seed, SPLITS.index(split), i])
        photo_name = list(backgrounds)[i % len(backgrounds)]
        city, roi = backgrounds[photo_name]
        bg = _crop_background(rng, photos[photo_name], roi, size)
        img, seg, objects = _make_scene(rng, bg, split, textures, size)

        stem = f'{city}_{i:06d}_{CITYSCAPES_FRAME}'
        coco_img = osp.join(paths['coco'][f'{split}_img_dir'], f'{stem}.png')
        cs_img = osp.join(paths['cityscapes'][f'{split}_img_dir'], city,
                          f'{stem}_leftImg8bit.png')
        cs_ann = osp.join(paths['cityscapes'][f'{split}_ann_dir'], city,
                          f'{stem}_gtFine_labelTrainIds.png')
        _write_png(coco_img, img)
        _write_png(cs_img, img)
        _write_png(cs_ann, seg)
        written += [coco_img, cs_img, cs_ann]

        image_id = i + 1
        images.append(dict(id=image_id, file_name=f'{stem}.png', height=size, width=size))
        for cat, vis in objects:
            x0, y0, x1, y1 = _tight_box(vis)
            annotations.append(dict(
                id=len(annotations) + 1, image_id=image_id, category_id=cat,
                segmentation=[_mask_to_polygon(vis)], area=int(vis.sum()),
                bbox=[x0, y0, x1 - x0 + 1, y1 - y0 + 1], iscrowd=0))
            per_class[cat - 1] += 1

    ann_file = paths['coco'][f'{split}_ann']
    _write_json(ann_file, dict(
        info=dict(description=f'hs_backbone demo data ({split})', version=str(VERSION)),
        licenses=[],
        images=images,
        annotations=annotations,
        categories=[dict(id=k + 1, name=name, supercategory='shape')
                    for k, name in enumerate(CLASSES)],
    ))
    written.append(ann_file)
    log(f'{split}: {num} scenes, {len(annotations)} objects ('
        + ', '.join(f'{n} {c}' for c, n in zip(CLASSES, per_class, strict=True))
        + f') from {len(backgrounds)} background photos')
    return dict(images=num, instances=len(annotations),
                per_class=dict(zip(CLASSES, per_class, strict=True))), written


def make_demo_data(out_dir='data/demo', num_train=96, num_val=24, size=256, seed=0,
                   force=False, verbose=True):
    """Write the demo dataset in COCO and Cityscapes layouts, unless it is already there.

    Args:
        out_dir (str): Output folder; ``coco/``, ``cityscapes/`` and ``meta.json`` are made
            inside it and nothing else there is touched.
        num_train (int): Number of train scenes. Defaults to 96.
        num_val (int): Number of val scenes. Defaults to 24.
        size (int): Side of the square images in pixels, at least 64. Defaults to 256.
        seed (int): Seed of the numpy Generators. Defaults to 0.
        force (bool): Regenerate even if ``out_dir`` holds an up-to-date dataset, and
            overwrite ``coco/`` and ``cityscapes/`` folders not made by this tool.
            Defaults to False.
        verbose (bool): Print a line per split, or that nothing had to be done.
            Defaults to True.

    Returns:
        dict: ``out_dir``, ``meta`` (path of meta.json), ``coco`` and ``cityscapes`` (dicts of
        paths: ``root``, ``train_ann``, ``val_ann``, ``train_img_dir``, ... ), ``classes``,
        ``counts`` (images and instances per split), ``content_hash`` and ``created``
        (False when the existing output was reused).

    Raises:
        FileExistsError: If ``out_dir`` holds ``coco/`` or ``cityscapes/`` without a
            ``meta.json`` of this tool and ``force`` is False.

    Example:
        >>> info = make_demo_data('/tmp/demo', num_train=6, num_val=3, size=128)
        >>> info['counts']['train']['images']
        6
        >>> make_demo_data('/tmp/demo', num_train=6, num_val=3, size=128)['created']
        False
    """
    for name, value, low in (('num_train', num_train, 1), ('num_val', num_val, 1),
                             ('size', size, 64), ('seed', seed, 0)):
        if int(value) != value or value < low:
            raise ValueError(f'{name} must be an integer >= {low}, got {value!r}')
    args = dict(num_train=int(num_train), num_val=int(num_val), size=int(size), seed=int(seed))
    out_dir = osp.abspath(out_dir)
    paths = _paths(out_dir)

    def log(msg):
        if verbose:
            print(f'[make_demo_data] {msg}', flush=True)

    meta = None
    if osp.isfile(paths['meta']):
        with open(paths['meta'], encoding='utf-8') as f:
            try:
                meta = json.load(f)
            except ValueError:
                meta = {}
    if meta is not None and not force and _is_up_to_date(meta, args, out_dir):
        log(f'{out_dir} is up to date ({args}); nothing to do (use --force to regenerate)')
        return _result(paths, meta, created=False)
    if meta is None and not force and any(
            osp.exists(p) for p in (paths['coco']['root'], paths['cityscapes']['root'])):
        raise FileExistsError(f'{out_dir} holds coco/ or cityscapes/ that this tool did not '
                              'make (no meta.json); use --force to overwrite them')
    _clean(paths)

    os.makedirs(out_dir, exist_ok=True)
    # An interrupted run leaves this incomplete meta.json, so the next run knows the
    # half-written folders are its own and regenerates them.
    _write_json(paths['meta'], dict(version=VERSION, args=args, complete=False))
    photos = {name: _load_photo(name) for name in (*TRAIN_BACKGROUNDS, *VAL_BACKGROUNDS)}
    textures = {label: _load_texture(name) for label, (name, _) in TEXTURES.items()}
    log(f'writing {out_dir} ({args})')

    counts, written = {}, []
    for split, num in zip(SPLITS, (args['num_train'], args['num_val']), strict=True):
        counts[split], files = _generate_split(
            split, num, args['size'], args['seed'], paths, photos, textures, log)
        written += files

    files = {osp.relpath(p, out_dir): dict(bytes=osp.getsize(p), sha256=_sha256(p))
             for p in sorted(written)}
    content_hash = hashlib.sha256(''.join(
        f'{rel} {entry["sha256"]}\n' for rel, entry in files.items()).encode()).hexdigest()
    meta = dict(
        version=VERSION,
        args=args,
        complete=True,
        classes=list(CLASSES),
        cityscapes_train_ids={name: CITYSCAPES_TRAIN_IDS[k + 1]
                              for k, name in enumerate(CLASSES)},
        background_train_id=BACKGROUND_TRAIN_ID,
        sources=dict(train=list(TRAIN_BACKGROUNDS), val=list(VAL_BACKGROUNDS),
                     textures={label: name for label, (name, _) in TEXTURES.items()}),
        libraries=dict(numpy=np.__version__, opencv=cv2.__version__,
                       skimage=_skimage_version()),
        counts=counts,
        content_hash=content_hash,
        files=files,
    )
    with open(paths['meta'], 'w', encoding='utf-8') as f:
        json.dump(meta, f, indent=1)
        f.write('\n')
    log(f'done: {len(files)} files, content hash {content_hash[:12]}')
    return _result(paths, meta, created=True)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Make the offline demo dataset (COCO + Cityscapes layouts) from photos '
        'that scikit-image ships.')
    parser.add_argument('--out', default='data/demo', help='output folder (default: data/demo)')
    parser.add_argument('--num-train', type=int, default=96, help='train scenes (default: 96)')
    parser.add_argument('--num-val', type=int, default=24, help='val scenes (default: 24)')
    parser.add_argument('--size', type=int, default=256, help='image side in px (default: 256)')
    parser.add_argument('--seed', type=int, default=0, help='random seed (default: 0)')
    parser.add_argument('--force', action='store_true',
                        help='regenerate even if the output is up to date')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    try:
        make_demo_data(args.out, num_train=args.num_train, num_val=args.num_val,
                       size=args.size, seed=args.seed, force=args.force)
    except (FileExistsError, ValueError) as e:
        print(f'[make_demo_data] error: {e}', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
