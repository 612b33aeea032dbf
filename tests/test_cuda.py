"""The CUDA tier (marker ``cuda``): what only a GPU can check.

Collected everywhere. Without a CUDA device every test here is skipped with the reason "not run:
no CUDA device", so a CPU run (CI) reports them as not run, never as passed.
``tools/gpu_check.py`` runs this tier on a GPU machine (``pytest tests/test_cuda.py -m cuda``).

Covered: HSResNet forward and backward on CUDA against the CPU (FP32, FP16 and BF16 autocast),
channels_last; SyncBN through a one-process NCCL group against BN; AMP training steps of each
paper config's model with mmcv's CUDA ops (nms, RoIAlign); ``tools/train.py --amp`` on the demo
Mask R-CNN config and ``tools/test.py`` printing its mAP; ``torch.compile`` of the backbone
against eager; the CUDA graph replay of tools/benchmark.py and its GPU preset.

Differences are relative L2 norms, ``||got - want|| / ||want||``, over all outputs (or all
parameter gradients) at once; how much is allowed is explained at ``FACTORS``. FP32 comparisons
switch TF32 off (PyTorch lets cuDNN use it by default on Ampere and later), so that FP32 means
FP32 on both sides.

Rehearsal: ``HS_CUDA_TIER_ON_CPU=1`` runs the same code on the CPU (CPU against CPU, gloo for
NCCL, mmengine's OptimWrapper for its AmpOptimWrapper, which refuses a CPU), skipping the parts
that need CUDA, to catch mistakes before GPU time is spent. It proves nothing about CUDA and CI
never sets it.
"""
import copy
import json
import os
import sys

import pytest
import torch

from .conftest import free_port, load_tool, run_checked

REHEARSAL = os.environ.get('HS_CUDA_TIER_ON_CPU') == '1'
DEVICE = 'cpu' if REHEARSAL else 'cuda'
pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not REHEARSAL and not torch.cuda.is_available(),
                       reason='not run: no CUDA device'),
]

# A result on the GPU is compared with the exact one (FP64 on the CPU) and must be about as close
# to it as the CPU's own result in the same precision:
#     rel(GPU, FP64) <= FACTOR * rel(CPU, FP64) + FLOOR
# for the outputs, the parameter gradients, the input gradient and the BN running statistics of
# HSResNet-50 in train mode on a 4x3x128x128 input. The yardstick is measured in the test, on the
# same input: a deep network with BN on batch statistics is ill-conditioned, so fixed tolerances
# would be either loose or flaky. Measured on the CPU (torch 2.14.1), outputs / parameter
# gradients / input gradient from FP64: FP32 1.1e-6 / 1.6e-3 / 1.8e-3, FP16 autocast 2.6e-3 /
# 8.9e-2 / 9.5e-2, BF16 autocast 2.0e-2 / 2.6e-1 / 2.7e-1; NHWC in FP32 3.8e-6 / 3.4e-3 / 3.4e-3.
# A GPU picks other convolution algorithms and its autocast keeps other ops in FP32: FP32 gets
# 20x, autocast 4x. A wrong kernel is off by the order of 1.
FACTORS = {'fp32': (20, 1e-6), 'fp16': (4, 1e-3), 'bf16': (4, 1e-3)}  # dtype: (factor, floor)
DTYPES = dict(fp32=torch.float32, fp16=torch.float16, bf16=torch.bfloat16)
BATCH_SHAPE = (4, 3, 128, 128)
DET_CONFIG = 'configs/demo/mask-rcnn_hs-r50_fpn_demo.py'
PAPER_CONFIGS = ('configs/hs_resnet/faster-rcnn_hs-r50_fpn_1x_coco.py',
                 'configs/hs_resnet/mask-rcnn_hs-r50_fpn_2x_coco.py',
                 'configs/hs_resnet/deeplabv3plus_hs-r50-d8_4xb2-80k_cityscapes-512x1024.py')


def needs_cuda(what):
    """In a rehearsal on the CPU, skip the part of a test that only CUDA can run."""
    if DEVICE != 'cuda':
        pytest.skip(f'rehearsal on CPU: {what} needs CUDA')


def rel(got, want):
    """||got - want|| / ||want|| over tensors or lists of tensors, in float64 on the CPU."""
    if isinstance(got, torch.Tensor):
        got, want = [got], [want]
    diff = sum((g.detach().double().cpu() - w.detach().double().cpu()).pow(2).sum()
               for g, w in zip(got, want, strict=True))
    norm = sum(w.detach().double().cpu().pow(2).sum() for w in want)
    return (diff / norm).sqrt().item()


@pytest.fixture
def strict_fp32():
    """FP32 convolutions and matmuls in FP32, not TF32, for the test's duration."""
    if hasattr(torch.backends.cudnn, 'conv'):  # torch >= 2.9
        switches = [(torch.backends.cudnn.conv, 'fp32_precision', 'ieee'),
                    (torch.backends.cuda.matmul, 'fp32_precision', 'ieee')]
    else:
        switches = [(torch.backends.cudnn, 'allow_tf32', False),
                    (torch.backends.cuda.matmul, 'allow_tf32', False)]
    before = [getattr(owner, name) for owner, name, _ in switches]
    for owner, name, value in switches:
        setattr(owner, name, value)
    yield
    for (owner, name, _), value in zip(switches, before, strict=True):
        setattr(owner, name, value)


@pytest.fixture
def process_group():
    """A one-process group: NCCL on CUDA (what SyncBN runs through), gloo in a rehearsal."""
    import torch.distributed as dist
    if DEVICE == 'cuda':
        torch.cuda.set_device(0)
    dist.init_process_group('nccl' if DEVICE == 'cuda' else 'gloo',
                            init_method=f'tcp://127.0.0.1:{free_port()}', rank=0, world_size=1)
    yield dist.group.WORLD
    dist.destroy_process_group()


@pytest.fixture
def sync_path(monkeypatch):
    """Make SyncBN layers in training mode run SyncBN's synchronizing function at world size 1.

    torch's ``SyncBatchNorm.forward`` falls back to plain ``batch_norm`` when the group has one
    process; the multi-GPU path (``batch_norm_stats``, an all-gather of the statistics,
    ``batch_norm_gather_stats_with_counts``, ``batch_norm_elemt``, and an all-reduce in
    backward) is what the paper configs run, so it is the one to test. Returns the call count.
    """
    import torch.distributed as dist
    from torch.nn.modules._functions import SyncBatchNorm as SyncFunction
    original = torch.nn.SyncBatchNorm.forward
    calls = []

    def forward(self, x):
        if not (self.training and self.track_running_stats and dist.is_initialized()):
            return original(self, x)
        self.num_batches_tracked.add_(1)
        momentum = (self.momentum if self.momentum is not None
                    else 1.0 / self.num_batches_tracked.item())
        calls.append(self)
        return SyncFunction.apply(x, self.weight, self.bias, self.running_mean,
                                  self.running_var, self.eps, momentum,
                                  self.process_group or dist.group.WORLD, 1)

    monkeypatch.setattr(torch.nn.SyncBatchNorm, 'forward', forward)
    return calls


def hs_resnet(**kwargs):
    """HSResNet initialized for training, except that every block's last norm starts at 0.1
    instead of 0 (``zero_init_residual``): the blocks' own convolutions then shape the outputs
    and get gradients, which is what is to be compared."""
    from hs_backbone import HSResNet
    torch.manual_seed(0)
    model = HSResNet(**kwargs)
    model.init_weights()
    for name, module in model.named_modules():
        if name.endswith('norm3'):
            torch.nn.init.constant_(module.weight, 0.1)
    return model


def forward_backward(model, x, weights, dtype=torch.float32):
    """Outputs, parameter gradients, input gradient and BN running statistics after one
    forward and backward of a fixed random projection of the outputs. (Its sum keeps every
    gradient well inside FP16's range: no loss scaling needed, none that could overflow.)"""
    model.zero_grad(set_to_none=True)
    x = x.detach().clone().requires_grad_(True)
    with torch.autocast(x.device.type, dtype=dtype, enabled=dtype != torch.float32):
        outs = model(x)
    loss = sum((o.float() * w).sum() for o, w in zip(outs, weights, strict=True))
    loss.backward()
    return dict(outputs=[o.detach().float() for o in outs],
                gradients=[p.grad for p in model.parameters() if p.grad is not None],
                input_gradient=x.grad,
                running_stats=[b for n, b in model.named_buffers() if 'running' in n])


def projection_weights(model, x):
    with torch.no_grad():
        shapes = [o.shape for o in copy.deepcopy(model).eval()(x)]
    generator = torch.Generator().manual_seed(1)
    return [torch.randn(s, generator=generator) for s in shapes]


def on(device, tensors):
    return [t.to(device) for t in tensors]


class Reference:
    """A model, its input and the CPU's results on it: FP64 (exact enough) and, on demand, FP32
    and FP16/BF16 autocast (the yardsticks)."""

    def __init__(self, model, x):
        self.model, self.x = model, x
        self.weights = projection_weights(model, x)
        self.fp64 = self.run_on_cpu(torch.float64)
        self.cpu = {}

    def run_on_cpu(self, dtype):
        model = copy.deepcopy(self.model)
        if dtype == torch.float64:
            return forward_backward(model.double(), self.x.double(),
                                    [w.double() for w in self.weights])
        return forward_backward(model, self.x, self.weights, dtype)

    def run(self, model, dtype='fp32', channels_last=False):
        """``model`` (a copy of :attr:`model`, anywhere) on the input, in ``dtype``."""
        device = next(model.parameters()).device
        x = self.x.to(device)
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return forward_backward(model, x, on(device, self.weights), DTYPES[dtype])

    def check(self, got, dtype, label):
        """Assert ``got`` is as close to FP64 as the CPU's own ``dtype`` result, by FACTORS."""
        if dtype not in self.cpu:
            self.cpu[dtype] = self.run_on_cpu(DTYPES[dtype])
        factor, floor = FACTORS[dtype]
        report = {}
        for key, exact in self.fp64.items():
            mine, cpu = rel(got[key], exact), rel(self.cpu[dtype][key], exact)
            report[key] = (mine, cpu)
        print(f'{label}: relative difference from CPU FP64 (this run, the CPU in {dtype}): '
              + ', '.join(f'{k} {a:.1e} ({b:.1e})' for k, (a, b) in report.items()))
        for key, (mine, cpu) in report.items():
            assert mine <= factor * cpu + floor, f'{label}, {key}: {mine:.2e} from FP64, the ' \
                f'CPU in {dtype} {cpu:.2e}: more than {factor}x that + {floor}'


@pytest.fixture(scope='module')
def reference():
    model = hs_resnet(depth=50).train()  # train mode: BN on batch statistics, updated buffers
    return Reference(model, torch.rand(*BATCH_SHAPE, generator=torch.Generator().manual_seed(0)))


@pytest.mark.parametrize('dtype', ['fp32', 'fp16', 'bf16'])
def test_hs_resnet_forward_backward_matches_cpu(dtype, reference, strict_fp32):
    model = copy.deepcopy(reference.model).to(DEVICE)
    got = reference.run(model, dtype)
    assert all(o.device.type == DEVICE for o in got['outputs'])
    assert len(got['gradients']) == len(list(model.parameters()))
    reference.check(got, dtype, f'HSResNet-50 on {DEVICE}, {dtype}')


def test_channels_last_matches_contiguous(reference, strict_fp32):
    model = copy.deepcopy(reference.model).to(DEVICE).to(memory_format=torch.channels_last)
    got = reference.run(model, channels_last=True)
    reference.check(got, 'fp32', f'HSResNet-50 on {DEVICE}, channels_last')
    # the whole network stays in NHWC: no conversion back and forth between the layers
    assert all(o.is_contiguous(memory_format=torch.channels_last) for o in got['outputs'][1:])
    # inference (running statistics, no batch coupling): well conditioned, a fixed bound
    nchw = copy.deepcopy(reference.model).to(DEVICE).eval()
    nhwc = copy.deepcopy(nchw).to(memory_format=torch.channels_last)
    x = reference.x.to(DEVICE)
    with torch.inference_mode():
        assert rel(list(nhwc(x.contiguous(memory_format=torch.channels_last))),
                   list(nchw(x))) < 1e-4


def test_syncbn_through_one_process_nccl_group_matches_bn(reference, process_group, sync_path,
                                                          strict_fp32):
    sync = hs_resnet(depth=50, norm_cfg=dict(type='SyncBN', requires_grad=True)).train()
    sync.load_state_dict(reference.model.state_dict())
    num_sync = sum(isinstance(m, torch.nn.SyncBatchNorm) for m in sync.modules())
    assert num_sync == sum(isinstance(m, torch.nn.BatchNorm2d)
                           for m in reference.model.modules()) > 100
    needs_cuda('SyncBN (batch_norm_stats has no CPU kernel)')
    got = reference.run(sync.to(DEVICE))
    assert len(sync_path) == num_sync  # every SyncBN layer went through the NCCL path
    reference.check(got, 'fp32', 'SyncBN through NCCL, 1 process')
    # and directly against BN on the GPU, by the same yardstick
    bn = reference.run(copy.deepcopy(reference.model).to(DEVICE))
    factor, floor = FACTORS['fp32']
    for key in got:
        difference = rel(got[key], bn[key])
        yardstick = rel(reference.cpu['fp32'][key], reference.fp64[key])
        print(f'SyncBN against BN, {key}: {difference:.1e} (CPU FP32 from FP64: {yardstick:.1e})')
        assert difference <= factor * yardstick + floor, key
    assert all(int(m.num_batches_tracked) == 1 for m in sync.modules()
               if isinstance(m, torch.nn.SyncBatchNorm))


def det_batch(model):
    from mmdet.testing import demo_mm_inputs
    return demo_mm_inputs(batch_size=2, image_shapes=[(3, 160, 224), (3, 192, 256)],
                          num_items=[3, 2], num_classes=model.roi_head.bbox_head.num_classes,
                          with_mask=model.roi_head.with_mask)


def seg_batch():
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample
    samples, inputs = [], []
    for _ in range(2):
        sample = SegDataSample(metainfo=dict(img_shape=(128, 256), ori_shape=(128, 256),
                                             pad_shape=(128, 256)))
        sample.gt_sem_seg = PixelData(data=torch.randint(0, 19, (1, 128, 256)))
        samples.append(sample)
        inputs.append(torch.randint(0, 256, (3, 128, 256), dtype=torch.uint8))
    return dict(inputs=inputs, data_samples=samples)


@pytest.mark.parametrize('config', PAPER_CONFIGS, ids=lambda c: c.split('/')[-1].split('_')[0])
def test_paper_config_trains_amp_steps_with_cuda_ops(config, process_group, sync_path):
    from mmengine.config import Config
    from mmengine.optim import build_optim_wrapper
    from mmengine.registry import init_default_scope
    if DEVICE == 'cuda':
        from mmcv.ops import get_compiling_cuda_version
        assert get_compiling_cuda_version() != 'not available', \
            'mmcv was built without CUDA ops: detection cannot run on this GPU'
    cfg = Config.fromfile(config)
    init_default_scope(cfg.default_scope)
    if cfg.default_scope == 'mmseg':
        from mmseg.registry import MODELS
        cfg.model.data_preprocessor.size = None  # no padding to the 512x1024 training crop
        cfg.model.data_preprocessor.size_divisor = 32
        if DEVICE == 'cpu':  # SyncBN with a process group refuses CPU tensors
            from .test_configs import to_cpu_norm
            to_cpu_norm(cfg.model)
    else:
        from mmdet.registry import MODELS
    torch.manual_seed(0)
    model = MODELS.build(cfg.model).to(DEVICE)  # no init_weights: no HS-ResNet weights exist
    model.train()
    syncbn = sum(isinstance(m, torch.nn.SyncBatchNorm) for m in model.modules())
    assert (syncbn > 0) == (cfg.default_scope == 'mmseg' and DEVICE == 'cuda')
    # what tools/train.py --amp makes of the config's optimizer
    wrapper = dict(cfg.optim_wrapper, type='AmpOptimWrapper', loss_scale='dynamic')
    if DEVICE == 'cpu':
        wrapper = dict(cfg.optim_wrapper)  # mmengine's AmpOptimWrapper refuses a CPU
    optim_wrapper = build_optim_wrapper(model, wrapper)
    data = det_batch(model) if cfg.default_scope == 'mmdet' else seg_batch()
    probe = next(p for p in model.backbone.parameters() if p.requires_grad)
    before = probe.detach().clone()
    losses = []
    for _ in range(3):  # the dynamic loss scale may skip a first step that overflows
        log_vars = model.train_step(data, optim_wrapper)
        assert all(torch.isfinite(torch.as_tensor(v)) for v in log_vars.values()), log_vars
        losses.append(float(log_vars['loss']))
        if not torch.equal(probe, before):
            break
    assert not torch.equal(probe, before), 'no step updated the weights'
    if syncbn:
        assert len(sync_path) >= syncbn
    if cfg.default_scope == 'mmdet':
        assert probe.device.type == DEVICE
        # inference too: nms of RPN and of the boxes, RoIAlign, mask pasting
        model.eval()
        results = model.test_step(data)
        assert len(results) == 2 and all(r.pred_instances.bboxes.shape[-1] == 4 for r in results)
    print(f'{config}: losses {losses}, SyncBN layers {syncbn}')


@pytest.mark.parametrize('dtype', [torch.float32, torch.float16], ids=['fp32', 'fp16'])
def test_benchmark_cuda_graph_replays_deploy(dtype):
    needs_cuda('CUDA graphs')
    benchmark = load_tool('benchmark')
    model, channels_last = benchmark.prepare('HS-ResNet50 (16w_6s)', 'deploy', DEVICE)
    graphed = benchmark.CudaGraphed(model)
    for size in (224, 160):  # a graph per input size
        x = torch.rand(2, 3, size, size, device=DEVICE).contiguous(
            memory_format=torch.channels_last)
        with torch.inference_mode(), torch.autocast('cuda', dtype=dtype,
                                                    enabled=dtype != torch.float32,
                                                    cache_enabled=False):
            want = [o.clone() for o in model(x)]
            got = [o.clone() for o in graphed(x)]
            again = graphed(x * 0.5)  # a new input through the same graph
            assert rel(list(again), list(model(x * 0.5))) < 1e-3
        assert rel(got, want) < 1e-3
    assert len(graphed.graphs) == 2
    graphed.release()
    assert not graphed.graphs


def test_benchmark_gpu_preset_smoke(tmp_path, capsys):
    out = tmp_path / 'bench.json'
    argv = ['--preset', 'gpu', '--smoke', '--settings', 'paper', 'fp16', 'train_amp',
            '--out', str(out), '--plot', str(tmp_path / 'bench.png')]
    if DEVICE == 'cpu':
        argv += ['--device', 'cpu']
    load_tool('benchmark').main(argv)
    report = json.loads(out.read_text())
    assert report['complete'] and report['environment']['device'] == DEVICE
    settings = {s['name']: s for s in report['settings']}
    assert list(settings) == ['paper', 'fp16', 'train_amp']
    assert all(s['status'] == 'done' for s in settings.values())
    variants = ['eager', 'channels_last', 'deploy'] + (['cuda_graph'] if DEVICE == 'cuda' else [])
    assert list(settings['paper']['inference']) == variants
    for variant in variants:
        for name in ('HS-ResNet50 (16w_6s)', 'ResNet-50'):
            assert settings['paper']['inference'][variant]['224x224'][name]['median_ms'] > 0
    if DEVICE == 'cuda':
        assert settings['paper']['tf32'] == dict(conv='ieee', matmul='ieee')
        assert settings['fp16']['dtype'] == 'fp16'
        assert report['environment']['gpu'] and report['environment']['capability']
        assert 'cuda_graph' in settings['paper']['first_call_seconds']
    for mode in ('plain', 'with_cp'):
        # parameters and their gradients alone take 180 MiB
        assert settings['train_amp']['training'][mode]['ResNet-50']['peak_memory_mib'] > 170
    figure1 = report['figure1']
    assert figure1['ResNet-50']['paper/eager']['ratio'] == 1.0
    assert figure1['HS-ResNet50 (16w_6s)']['paper']['ms'] == 5.34
    table = capsys.readouterr().out
    assert 'Figure 1 comparison' in table and '| HS-ResNet50 (16w_6s) | 5.34 (1.54x)' in table
    assert (tmp_path / 'bench.png').stat().st_size > 0


def test_train_amp_on_demo_mask_rcnn_then_test_prints_map(tiny_demo_data, tmp_path):
    from hs_backbone.checkpoint import safe_load
    data_options = load_tool('demo').data_options('det', tiny_demo_data)
    iters = 8
    amp = ['--amp'] if DEVICE == 'cuda' else []  # mmengine's AmpOptimWrapper refuses a CPU
    log = run_checked([
        sys.executable, 'tools/train.py', DET_CONFIG, *amp, '--work-dir', str(tmp_path),
        '--cfg-options', *data_options, f'train_cfg.max_iters={iters}',
        f'default_hooks.checkpoint.interval={iters}', 'default_hooks.logger.interval=2',
        'train_dataloader.batch_size=2', f'param_scheduler.1.T_max={iters}',
        f'param_scheduler.1.end={iters}', 'val_cfg=None', 'val_dataloader=None',
        'val_evaluator=None'])
    assert f'Iter(train) [{iters}/{iters}]' in log
    checkpoint = tmp_path / f'iter_{iters}.pth'
    if DEVICE == 'cuda':
        assert 'CUDA available: True' in log
        # AmpOptimWrapper keeps its loss scaler beside the optimizer state
        assert 'loss_scaler' in safe_load(str(checkpoint))['optimizer']
    metrics_file = tmp_path / 'metrics.json'
    out = run_checked([sys.executable, 'tools/test.py', DET_CONFIG, str(checkpoint),
                       '--work-dir', str(tmp_path), '--metrics-out', str(metrics_file),
                       '--cfg-options', *data_options])
    metrics = json.loads(metrics_file.read_text())['metrics']
    assert json.dumps(metrics) in out  # printed as one JSON line
    for key in ('coco/bbox_mAP', 'coco/segm_mAP'):
        # after 8 iterations from scratch the mAP is near 0; -1 means COCO found no detections
        assert -1 <= metrics[key] <= 1, metrics
    print(f'demo Mask R-CNN, {iters} iterations{" with --amp" if amp else ""}: '
          f'bbox mAP {metrics["coco/bbox_mAP"]}, segm mAP {metrics["coco/segm_mAP"]}')


def test_compiled_backbone_matches_eager(strict_fp32):
    import torch._dynamo
    torch._dynamo.reset()
    model = hs_resnet(depth=50).to(DEVICE).eval()
    x = torch.rand(2, 3, 128, 128, device=DEVICE)
    assert torch._dynamo.explain(model)(x).graph_break_count == 0
    with torch.inference_mode():
        want = model(x)
        got = torch.compile(model, dynamic=False)(x)
    # inference uses the running statistics: well conditioned (CPU FP32 from FP64: 1e-6)
    assert rel(list(got), list(want)) < 1e-4
    # training, forward and backward, of a two-stage model (compiling backward takes longer),
    # against FP64 by the same yardstick as eager
    small = hs_resnet(depth=50, num_stages=2, strides=(1, 2), dilations=(1, 1),
                      out_indices=(0, 1)).train()
    reference = Reference(small, torch.rand(*BATCH_SHAPE,
                                            generator=torch.Generator().manual_seed(0)))
    compiled = torch.compile(copy.deepcopy(small).to(DEVICE), dynamic=False)
    reference.check(reference.run(compiled), 'fp32', f'torch.compile on {DEVICE}, training')
