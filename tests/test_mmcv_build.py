"""tools/mmcv_build.py: which mmcv ops, toolkit, archs and cache key, in posed environments."""
import os
import os.path as osp
import subprocess

import pytest

from .conftest import load_tool

mmcv_build = load_tool('mmcv_build')
PlanError = mmcv_build.PlanError

TORCH = '2.14.1+cu130'
TORCH_REQUIRES = ['cuda-toolkit[cublas,cudart,nvrtc]==13.0.3; platform_system == "Linux"',
                  'filelock']
SYSTEM_NVCC = '/usr/local/cuda-13.0/bin/nvcc'


def plan(env=None, gpus=(), torch_cuda='13.0', requires=TORCH_REQUIRES, cores=2):
    return mmcv_build.make_plan(env or {}, bool(gpus), list(gpus), TORCH, torch_cuda, requires,
                                'cp311', cores, '/venv/site-packages')


def fake_toolkit(tmp_path, release):
    """A CUDA_HOME whose bin/nvcc reports ``release`` as nvcc does."""
    nvcc = tmp_path / f'cuda-{release}' / 'bin' / 'nvcc'
    nvcc.parent.mkdir(parents=True)
    nvcc.write_text('#!/bin/sh\necho "nvcc: NVIDIA (R) Cuda compiler driver"\n'
                    f'echo "Cuda compilation tools, release {release}, V{release}.1"\n')
    nvcc.chmod(0o755)
    return str(nvcc.parent.parent)


def test_no_gpu_builds_cpu_ops_keyed_by_torch_and_python():
    result = plan()
    assert result.ops == 'cpu'
    assert result.cache_key == 'torch2.14.1+cu130-cp311-cpu'
    assert result.arch_list == result.cuda_home == result.toolkit_requirement == ''
    assert result.minutes == 8  # 950 core-seconds on 2 cores


def test_visible_gpu_builds_cuda_ops_for_its_arch_whatever_force_cuda_says():
    # mmcv's setup.py compiles CUDA ops when it sees a GPU, FORCE_CUDA=0 or not
    result = plan({'FORCE_CUDA': '0'}, gpus=[(9, 0)])
    assert result.ops == 'cuda'
    assert result.arch_list == '9.0'
    assert result.cache_key == 'torch2.14.1+cu130-cp311-cuda13.0-sm90'
    # no CUDA_HOME: the registry toolkit at the version torch pins, installed into the venv
    assert result.toolkit_requirement == 'cuda-toolkit[nvcc,cccl]==13.0.3'
    assert result.cuda_home == osp.join('/venv/site-packages', 'nvidia', 'cu13')
    assert result.minutes == 23  # 2,800 core-seconds on 2 cores


def test_several_gpus_give_each_arch_once_in_order():
    assert plan(gpus=[(9, 0), (8, 0), (9, 0)]).arch_list == '8.0;9.0'


def test_arch_list_overrides_the_visible_gpus():
    result = plan({'TORCH_CUDA_ARCH_LIST': '8.0 8.6;9.0+PTX'}, gpus=[(9, 0)])
    assert result.arch_list == '8.0;8.6;9.0+PTX'
    assert result.cache_key.endswith('-cuda13.0-sm80.sm86.sm90-ptx')
    assert result.minutes == round((2800 + 2 * 600) / 2 / 60)


def test_force_cuda_on_a_node_without_gpu_needs_the_archs():
    with pytest.raises(PlanError, match='TORCH_CUDA_ARCH_LIST="8.0;9.0"'):
        plan({'FORCE_CUDA': '1'})
    result = plan({'FORCE_CUDA': '1', 'TORCH_CUDA_ARCH_LIST': '8.0;9.0'})
    assert (result.ops, result.arch_list) == ('cuda', '8.0;9.0')


@pytest.mark.parametrize('arch_list', ['sm_90', '9', '9.0;compute_90'])
def test_malformed_arch_is_refused_by_name(arch_list):
    with pytest.raises(PlanError, match='TORCH_CUDA_ARCH_LIST entry'):
        plan({'FORCE_CUDA': '1', 'TORCH_CUDA_ARCH_LIST': arch_list})


def test_cache_keys_never_mix_cpu_cuda_or_archs():
    keys = {plan().cache_key, plan(gpus=[(9, 0)]).cache_key, plan(gpus=[(8, 0)]).cache_key,
            plan(gpus=[(8, 0), (9, 0)]).cache_key}
    assert len(keys) == 4
    other_torch = mmcv_build.make_plan({}, False, [], '2.11.0+cu130', '13.0', [], 'cp312', 2,
                                       '/x')
    assert other_torch.cache_key == 'torch2.11.0+cu130-cp312-cpu'


def test_cpu_only_torch_cannot_get_cuda_ops():
    with pytest.raises(PlanError, match='CPU-only build'):
        plan({'FORCE_CUDA': '1', 'TORCH_CUDA_ARCH_LIST': '9.0'}, torch_cuda=None)


def test_own_cuda_home_is_used_when_its_major_version_matches(tmp_path):
    home = fake_toolkit(tmp_path, '13.0')
    result = plan({'CUDA_HOME': home}, gpus=[(9, 0)])
    assert (result.cuda_home, result.toolkit_requirement) == (home, '')


def test_own_cuda_home_of_another_major_version_is_refused_with_the_fix(tmp_path):
    home = fake_toolkit(tmp_path, '12.9')
    with pytest.raises(PlanError) as error:
        plan({'CUDA_HOME': home}, gpus=[(9, 0)])
    message = str(error.value)
    assert 'CUDA 12.9' in message and 'CUDA 13.0' in message
    assert 'cuda-toolkit[nvcc,cccl]==13.0.3' in message


def test_cuda_home_without_nvcc_is_refused(tmp_path):
    with pytest.raises(PlanError, match='has no working bin/nvcc'):
        plan({'CUDA_PATH': str(tmp_path)}, gpus=[(8, 0)])


@pytest.mark.skipif(not os.access(SYSTEM_NVCC, os.X_OK), reason=f'needs {SYSTEM_NVCC}')
def test_system_cuda_13_toolkit_matches_torch():
    home = osp.dirname(osp.dirname(SYSTEM_NVCC))
    assert mmcv_build.nvcc_version(home)[0] == 13
    assert plan({'CUDA_HOME': home}, gpus=[(9, 0)]).cuda_home == home


def test_torch_without_toolkit_pin_gets_its_cuda_minor_release():
    assert plan(gpus=[(9, 0)], torch_cuda='12.8',
                requires=['nvidia-cuda-runtime-cu12==12.8.90']).toolkit_requirement \
        == 'cuda-toolkit[nvcc,cccl]==12.8.*'


def test_plan_prints_shell_assignments_that_bash_reads():
    text = plan({'TORCH_CUDA_ARCH_LIST': '8.0;9.0'}, gpus=[(9, 0)]).as_shell()
    out = subprocess.run(['bash', '-c', f'{text}\necho "$MMCV_OPS|$MMCV_ARCH_LIST|$MMCV_MINUTES"'],
                         capture_output=True, text=True, check=True).stdout
    assert out.strip() == 'cuda|8.0;9.0|28'


def test_plan_on_this_machine_without_gpu():
    env = {k: v for k, v in os.environ.items() if k not in ('FORCE_CUDA', 'TORCH_CUDA_ARCH_LIST')}
    assert mmcv_build.plan_for_this_machine(env).ops == 'cpu'


def test_check_passes_cpu_ops_when_no_cuda_is_wanted():
    assert 'with CPU ops' in mmcv_build.check_installed(plan())


def test_check_fails_loudly_with_the_fix_when_cuda_is_wanted_and_mmcv_has_none():
    # the installed mmcv here is the CPU build
    with pytest.raises(PlanError) as error:
        mmcv_build.check_installed(plan({'FORCE_CUDA': '1', 'TORCH_CUDA_ARCH_LIST': '9.0'}))
    assert 'nms_impl' in str(error.value) and 'make env' in str(error.value)


def test_check_names_archs_the_installed_cuda_ops_lack(monkeypatch):
    import mmcv.ops
    monkeypatch.setattr(mmcv.ops, 'get_compiling_cuda_version', lambda: '13.0')
    monkeypatch.setattr(mmcv_build, 'fatbin_archs', lambda path: {'sm_80'})
    with pytest.raises(PlanError, match='sm_90 was asked for'):
        mmcv_build.check_installed(plan({'TORCH_CUDA_ARCH_LIST': '8.0;9.0'}, gpus=[(9, 0)]))
    monkeypatch.setattr(mmcv_build, 'fatbin_archs', lambda path: {'sm_80', 'sm_90'})
    assert 'sm_80, sm_90' in mmcv_build.check_installed(
        plan({'TORCH_CUDA_ARCH_LIST': '8.0;9.0'}, gpus=[(9, 0)]))


@pytest.mark.skipif(not os.access(SYSTEM_NVCC, os.X_OK), reason=f'needs {SYSTEM_NVCC}')
def test_fatbin_archs_reads_what_nvcc_compiled(tmp_path):
    source = tmp_path / 'kernel.cu'
    source.write_text('__global__ void inc(float *x) { x[threadIdx.x] += 1.0f; }\n'
                      'void launch(float *x) { inc<<<1, 32>>>(x); }\n')
    library = tmp_path / 'kernel.so'
    subprocess.run([SYSTEM_NVCC, '-shared', '-Xcompiler', '-fPIC',
                    '-gencode', 'arch=compute_90,code=sm_90',
                    '-gencode', 'arch=compute_80,code=sm_80',
                    '-gencode', 'arch=compute_80,code=compute_80',
                    str(source), '-o', str(library)], check=True, timeout=300)
    assert mmcv_build.fatbin_archs(str(library)) == {'sm_80', 'sm_90', 'compute_80'}
    assert mmcv_build.main(['archs', str(library)]) == 0


def test_fatbin_archs_of_cpu_ops_and_of_a_non_library(tmp_path):
    import glob

    import mmcv
    ext = glob.glob(osp.join(osp.dirname(mmcv.__file__), '_ext*.so'))[0]
    assert mmcv_build.fatbin_archs(ext) == set()
    text = tmp_path / 'notes.txt'
    text.write_text('not a library')
    with pytest.raises(ValueError, match='not a 64-bit ELF'):
        mmcv_build.fatbin_archs(str(text))


def test_cli_reports_refusals_on_stderr_with_status_1(capsys, monkeypatch):
    monkeypatch.setenv('FORCE_CUDA', '1')
    monkeypatch.delenv('TORCH_CUDA_ARCH_LIST', raising=False)
    assert mmcv_build.main(['plan']) == 1
    assert 'TORCH_CUDA_ARCH_LIST' in capsys.readouterr().err

