"""The example notebook runs end to end (so it cannot rot) and ships its outputs."""
import os

import pytest

from conftest import REPO

NB = os.path.join(REPO, 'examples', 'scratchgan_quickstart.ipynb')


def execute(path, out_path=None, timeout=600):
  import nbclient
  import nbformat
  nb = nbformat.read(path, as_version=4)
  nbclient.NotebookClient(nb, timeout=timeout, kernel_name='python3',
                          resources={'metadata': {'path': os.path.dirname(path)}}).execute()
  if out_path:
    nbformat.write(nb, out_path)
  return nb


def test_saved_notebook_has_outputs_for_readers():
  import json
  with open(NB, encoding='utf-8') as f:
    nb = json.load(f)
  code = [c for c in nb['cells'] if c['cell_type'] == 'code']
  assert all(c.get('execution_count') for c in code)
  assert any(o.get('output_type') == 'display_data' and 'image/png' in o.get('data', {})
             for c in code for o in c['outputs'])  # the training plot


@pytest.mark.slow
def test_notebook_executes_end_to_end():
  pytest.importorskip('nbclient')
  pytest.importorskip('ipykernel')
  nb = execute(NB)
  errors = [o for c in nb.cells if c.cell_type == 'code' for o in c.outputs
            if o.output_type == 'error']
  assert not errors, errors
  text = ''.join(o.get('text', '') for c in nb.cells if c.cell_type == 'code'
                 for o in c.outputs)
  assert 'NLL-oracle' in text and 'loaded best.npz' in text


if __name__ == '__main__':  # refresh the saved outputs: python tests/test_notebook.py
  execute(NB, NB)
