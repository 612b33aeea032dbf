"""What tools/compare.py writes: statistics over seeds, the Markdown table and the plot."""
import math
import os.path as osp
import statistics

# what a table shows first when the runs report them (mmdet, mmseg, mmpretrain)
HEADLINE_METRICS = ('coco/bbox_mAP', 'coco/segm_mAP', 'mIoU', 'accuracy/top1')


def spread(values):
    """Mean and sample standard deviation (None for a single value) of ``values``."""
    values = [v for v in values if v is not None]
    if not values:
        return dict(mean=None, std=None)
    std = statistics.stdev(values) if len(values) > 1 else None
    return dict(mean=statistics.fmean(values), std=std)


def difference(reference, other):
    """``other``'s mean minus ``reference``'s, its standard error and Welch's t-test p-value.

    With two or three seeds a config is a handful of samples: the p-value says how often seed
    noise alone would give a difference this large, so that a table does not read noise as a
    ranking. None where a side has a single seed (no spread to compare with).
    """
    a, b = list(reference['per_seed'].values()), list(other['per_seed'].values())
    diff = other['mean'] - reference['mean']
    if len(a) < 2 or len(b) < 2:
        return dict(diff=diff, se=None, p=None)
    se = math.sqrt(reference['std'] ** 2 / len(a) + other['std'] ** 2 / len(b))
    p = None
    if se > 0:
        from scipy.stats import ttest_ind
        p = float(ttest_ind(b, a, equal_var=False).pvalue)
    return dict(diff=diff, se=se, p=p)


def headline(runs, wanted=None):
    """The metrics of the table and plot: ``wanted``, or the headline ones every run has."""
    reported = set.intersection(*(set(r['metrics']) for r in runs))
    if wanted:
        missing = [m for m in wanted if m not in reported]
        if missing:
            raise ValueError(f'metrics {missing} are not reported by every run; they report '
                             f'{sorted(reported)}')
        return list(wanted)
    return [m for m in HEADLINE_METRICS if m in reported] or sorted(reported)


def build_report(runs, sizes, configs, seeds, shape, metrics=None):
    """Per config: the statistics of every metric, its size and times; JSON-ready.

    Args:
        runs (list[dict]): One per (config, seed): ``config``, ``seed``, ``metrics`` (name ->
            value), ``train_seconds``, ``test_seconds`` and whatever else to keep per run.
        sizes (dict): config -> ``backbone``, ``params``, ``macs``, ``conv_macs``.
        configs (list[str]): In table order; the first is the reference of the differences.
        seeds (list[int]): The seeds every config ran with.
        shape (list[int]): (H, W) of the size counts.
        metrics (list[str], optional): Metrics of the table and plot (see :func:`headline`).
    """
    entries = []
    for config in configs:
        mine = sorted((r for r in runs if r['config'] == config), key=lambda r: r['seed'])
        names = set.intersection(*(set(r['metrics']) for r in mine))
        stats = {}
        for name in sorted(names):
            values = {str(r['seed']): r['metrics'][name] for r in mine}
            stats[name] = dict(spread(values.values()), per_seed=values)
        entries.append(dict(
            name=osp.splitext(osp.basename(config))[0], config=config, **sizes[config],
            metrics=stats,
            train_seconds=spread(r['train_seconds'] for r in mine),
            test_seconds=spread(r['test_seconds'] for r in mine),
            runs=[{k: v for k, v in r.items() if k not in ('config', 'metrics')}
                  for r in mine]))
    reference = entries[0]
    for entry in entries[1:]:
        entry['vs_reference'] = {
            name: difference(reference['metrics'][name], stat)
            for name, stat in entry['metrics'].items() if name in reference['metrics']}
    return dict(seeds=list(seeds), shape=list(shape), metrics=headline(runs, metrics),
                reference=reference['name'], configs=entries)


def _decimals(report, metric):
    # mAPs and accuracies in [0, 1] need three decimals, percentages two
    values = [v for e in report['configs'] for v in e['metrics'][metric]['per_seed'].values()]
    return 3 if max(abs(v) for v in values) <= 1 else 2


def _versus(vs, digits):
    if vs is None:
        return '-'
    text = f'{vs["diff"]:+.{digits}f}'
    if vs['se'] is not None:
        text += f' ± {vs["se"]:.{digits}f}'
    if vs['p'] is not None:
        text += f' (p {vs["p"]:.2f})'
    return text


def markdown(report):
    """The comparison as a Markdown table with a legend line above it."""
    size = 'x'.join(str(s) for s in report['shape'])
    seeds = ', '.join(str(s) for s in report['seeds'])
    lines = [
        f'Mean ± standard deviation over seeds {seeds} [per-seed values]; Δ: difference of '
        f'the means to {report["reference"]} ± its standard error (p: Welch\'s t-test; a '
        'large p means the seeds do not tell the two apart). Params and GMACs: the backbone '
        f'as configured, at {size}. Train time: mean per run.',
        '',
    ]
    header = ['config', 'backbone', 'params (M)', f'conv GMACs ({size})']
    align = ['---', '---', '---:', '---:']
    for metric in report['metrics']:
        header += [metric, f'Δ {metric}']
        align += ['---', '---:']
    header.append('train (min)')
    align.append('---:')
    lines += ['| ' + ' | '.join(header) + ' |', '|' + '|'.join(align) + '|']
    for entry in report['configs']:
        row = [entry['name'], entry['backbone'], f'{entry["params"] / 1e6:.2f}',
               f'{entry["conv_macs"] / 1e9:.2f}']
        for metric in report['metrics']:
            digits = _decimals(report, metric)
            stat = entry['metrics'][metric]
            cell = f'{stat["mean"]:.{digits}f}'
            if stat['std'] is not None:
                cell += f' ± {stat["std"]:.{digits}f}'
            values = ', '.join(f'{v:.{digits}f}' for v in stat['per_seed'].values())
            row += [f'{cell} [{values}]',
                    _versus(entry.get('vs_reference', {}).get(metric), digits)]
        train = entry['train_seconds']['mean']
        row.append('-' if train is None else f'{train / 60:.1f}')
        lines.append('| ' + ' | '.join(row) + ' |')
    return '\n'.join(lines) + '\n'


def plot(report, path):
    """Each metric against conv GMACs: mean with ± standard deviation bars, seeds as dots."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    metrics = report['metrics']
    fig, axes = plt.subplots(1, len(metrics), figsize=(5 * len(metrics) + 2, 4), squeeze=False)
    for ax, metric in zip(axes[0], metrics, strict=True):
        for i, entry in enumerate(report['configs']):
            colour = plt.get_cmap('tab10')(i % 10)
            stat = entry['metrics'][metric]
            x = entry['conv_macs'] / 1e9
            values = list(stat['per_seed'].values())
            ax.scatter([x] * len(values), values, color=colour, alpha=0.35, s=14)
            ax.errorbar(x, stat['mean'], yerr=stat['std'] or 0, fmt='o', capsize=5,
                        color=colour, label=entry['name'])
        ax.set_xlabel(f'backbone conv GMACs at {report["shape"][0]}x{report["shape"][1]}')
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
    axes[0][-1].legend(fontsize=7, loc='upper left', bbox_to_anchor=(1.01, 1))
    seeds = ', '.join(str(s) for s in report['seeds'])
    fig.suptitle(f'mean ± standard deviation over seeds {seeds} (dots: single seeds)',
                 fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
