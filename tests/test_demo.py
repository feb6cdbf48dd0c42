"The demo page as a person meets it: `videocls-demo` serving on 127.0.0.1, a real clip and a long video sent through gradio_client and through headless Chromium"
import json, os, socket, subprocess, sys, time, urllib.request
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

BIN = Path(sys.executable).parent
CHROMIUM, CHROMEDRIVER = Path('/usr/bin/chromium'), Path('/usr/bin/chromedriver')
QUIET = {'GRADIO_ANALYTICS_ENABLED': 'False', 'HF_HUB_DISABLE_TELEMETRY': '1'}   # no telemetry, no version check
pytestmark = pytest.mark.once  # one CI lane (pyproject.toml)
SCREENSHOT = os.environ.get('VIDEOCLS_DEMO_SCREENSHOT')   # also copy the whole page's screenshot with a long video here (for nbs/images/demo_page.png)

@pytest.fixture(scope='module')
def trained(tmp_path_factory, tiny_store_learner):
    "A tiny clip-store learner exported to `learner.pkl`, the videos it learned from (the page's examples) and a new clip"
    from videocls.testing import write_clip
    tmp = tmp_path_factory.mktemp('demo')
    learn, _ = tiny_store_learner(tmp, classes=('ApplyEyeMakeup', 'Basketball', 'Biking'))
    learn.export(tmp/'learner.pkl')
    video = write_clip(tmp/'new/v_Basketball_g09_c01.avi', n_frames=40, size=(64, 48), color=(40, 160, 60))
    return tmp, tmp/'learner.pkl', video

LONG = 180   # frames of the long video (25 fps: 7.2 s); the learner's timeline windows are 12 frames every 6, so 29 windows

@pytest.fixture(scope='module')
def long_video(trained):
    "A video of 3 segments of 60 frames of 64x48, a clip of 12 frames played 5 times in the colour of each class in turn: more than 4 windows of 12 frames, so it gets a timeline"
    from videocls.testing import write_clip
    from videocls.data.video import decode_video
    from videocls.data.synthetic import write_video
    tmp = trained[0]
    parts = [write_clip(tmp/f'part{i}.avi', n_frames=12, size=(64, 48), color=c)   # as the training clips: 12 frames
             for i, c in enumerate([(40, 160, 60), (200, 60, 40), (50, 80, 200)])]   # Basketball, ApplyEyeMakeup, Biking
    return write_video(tmp/'new/long.avi', np.stack([f.to_ndarray(format='rgb24') for v in parts for f in list(decode_video(v)) * (LONG // 36)]))

def _free_port()->int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]

@pytest.fixture(scope='module')
def server(trained):
    "`videocls-demo learner.pkl --examples videos --port P` in its own process group; its URL once the page answers"
    tmp, pkl, _ = trained
    port, log = _free_port(), open(tmp/'server.log', 'w+')
    env = {**os.environ, **QUIET, 'GRADIO_TEMP_DIR': str(tmp/'gradio'), 'CUDA_VISIBLE_DEVICES': ''}
    p = subprocess.Popen([str(BIN/'videocls-demo'), str(pkl), '--examples', str(tmp/'videos'), '--port', str(port)],
                         stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    url, deadline = f'http://127.0.0.1:{port}', time.monotonic() + 90
    try:
        while True:
            try:
                urllib.request.urlopen(url + '/', timeout=5).read()
                break
            except OSError:
                log.seek(0)
                if p.poll() is not None: pytest.fail(f'videocls-demo ended with status {p.returncode}:\n{log.read()}')
                if time.monotonic() > deadline: pytest.fail(f'videocls-demo did not answer on {url} within 90 s:\n{log.read()}')
                time.sleep(0.5)
        yield url
    finally:
        p.terminate()
        try: p.wait(15)
        except subprocess.TimeoutExpired: p.kill(); p.wait(15)
        log.close()

def _reference(pkl, video):
    "`predict_video`'s answer for `video`, with the learner loaded as the page loads it"
    from videocls.cli import load_video_learner
    from videocls.inference import predict_video
    return predict_video(load_video_learner(pkl), video, n_clips=3, k=5)

@pytest.fixture(scope='module')
def long_reference(trained, long_video):
    "`(predict_video's answer, predict_timeline's rows)` for the long video, the rows as the page's table shows them: start, end (s, 2 decimals), top class, probability (%, 1 decimal)"
    from videocls.cli import load_video_learner
    from videocls.inference import predict_video
    from videocls.timeline import predict_timeline
    learn = load_video_learner(trained[1])   # as the page loads it
    df = predict_timeline(learn, long_video)
    rows = [[round(a, 2), round(b, 2), c, round(float(p) * 100, 1)] for a, b, c, p in zip(df.start, df.end, df.top_class, df.probability)]
    return predict_video(learn, long_video, n_clips=3, k=5), rows

def _check_table(rows, ref):
    "The page's table of windows is `predict_timeline`'s, and covers the video from 0 s to its end, without a gap"
    assert len(rows) == len(ref) == (LONG - 12) // 6 + 1, (len(rows), len(ref))
    assert [r[:3] for r in rows] == [r[:3] for r in ref] and max(abs(r[3] - q[3]) for r, q in zip(rows, ref)) <= 0.1, (rows, ref)
    assert rows[0][0] == 0 and abs(rows[-1][1] - LONG / 25) < 0.005, (rows[0], rows[-1])   # end to end: 0 s to 7.2 s
    assert all(b[0] <= a[1] for a, b in zip(rows, rows[1:])), rows                         # each window starts before the last one ends

def _check_picture(fname):
    "The timeline picture: 800x240, lines and text drawn on it"
    with Image.open(fname) as im: a = np.asarray(im.convert('RGB'))
    assert a.shape == (240, 800, 3), a.shape
    assert (a < 128).any(-1).mean() > 0.01 and len(np.unique(a.reshape(-1, 3), axis=0)) > 20   # dark pixels (axes, text), many colours (lines)

@pytest.mark.timeout(120)
def test_client_gets_predict_videos_answer(server, trained, tmp_path):
    "The page's API (`/classify`) through gradio_client: the same top classes and probabilities as `predict_video`"
    from gradio_client import Client, handle_file
    _, pkl, video = trained
    client = Client(server, download_files=str(tmp_path/'downloads'), verbose=False, analytics_enabled=False)
    try:
        labels, frames, agreement, plot, windows = client.predict(handle_file(str(video)), api_name='/classify')
        ref = _reference(pkl, video)
        got = [(c['label'], c['confidence']) for c in labels['confidences']]
        assert [l for l, _ in got] == [l for l, _ in ref], (got, ref)
        assert max(abs(p - q) for (_, p), (_, q) in zip(got, ref)) < 1e-5, (got, ref)
        assert labels['label'] == ref[0][0]
        with Image.open(frames) as im: wh = im.size   # 3 clips of 4 frames of 32x24 (the store's), 2 px apart, 4x; 8 px between rows
        assert wh == ((4 * 32 + 3 * 2) * 4, 3 * 96 + 2 * 8), wh
        assert '| 2 | 14, 18, 21, 25 |' in agreement, agreement   # the clips' windows (the spec's `span`, 12)
        assert agreement.startswith('**') and f'pick **{ref[0][0]}**' in agreement, agreement
        assert plot is None and windows['data'] == [], (plot, windows)   # 40 frames, not more than 4 windows of 12: no timeline
        (tmp_path/'notes.avi').write_text('not a video')   # a bad file: the error names it and says what to do
        with pytest.raises(Exception, match=r'notes\.avi: cannot be read as a video.*Pick another video file'):
            client.predict(handle_file(str(tmp_path/'notes.avi')), api_name='/classify')
    finally: client.close()

@pytest.mark.timeout(120)
def test_client_gets_a_long_videos_timeline(server, long_video, long_reference, tmp_path):
    "A long video through `/classify`: `predict_video`'s top classes, and `predict_timeline`'s windows as a picture and a table"
    from gradio_client import Client, handle_file
    client = Client(server, download_files=str(tmp_path/'downloads'), verbose=False, analytics_enabled=False)
    try: labels, frames, agreement, plot, windows = client.predict(handle_file(str(long_video)), api_name='/classify')
    finally: client.close()
    ref, win = long_reference
    assert [(c['label'], round(c['confidence'], 5)) for c in labels['confidences']] == [(l, round(p, 5)) for l, p in ref], (labels, ref)
    assert '| 2 | 84, 88, 91, 95 |' in agreement, agreement   # the middle clip of 180 frames: predict_video's, not the whole video
    assert windows['headers'] == ['start (s)', 'end (s)', 'top class', 'probability (%)'], windows['headers']
    _check_table(windows['data'], win)
    _check_picture(plot)

def _chromium(profile:Path):
    "Headless Chromium through /usr/bin/chromedriver, its network log on"
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    opts = webdriver.ChromeOptions()
    opts.binary_location = str(CHROMIUM)
    for a in ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
              '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage', f'--user-data-dir={profile}',
              '--window-size=1280,1200']:
        opts.add_argument(a)
    opts.set_capability('goog:loggingPrefs', {'performance': 'ALL'})
    return webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=opts)

def _upload(driver, server:str, video:Path):
    "Open the page in `driver` and drop `video` on its upload box; a `WebDriverWait` of 60 s for what follows"
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait
    driver.set_page_load_timeout(60)
    driver.get(server)
    wait = WebDriverWait(driver, 60, poll_frequency=0.5)
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, '#video input[type=file]'))[0].send_keys(str(video))
    return wait

@pytest.mark.timeout(120)
@pytest.mark.skipif(not CHROMIUM.exists(), reason='/usr/bin/chromium is absent: apt-get install chromium chromium-driver')
def test_page_in_chromium(server, trained, tmp_path):
    "Upload a clip on the page in a real browser: the bars show `predict_video`'s classes and percentages; nothing is fetched from outside"
    from selenium.webdriver.common.by import By
    _, pkl, video = trained
    ref = _reference(pkl, video)
    driver = _chromium(tmp_path/'profile')
    try:
        wait = _upload(driver, server, video)
        wait.until(lambda d: '%' in d.find_element(By.ID, 'top').text and d.find_elements(By.CSS_SELECTOR, '#frames img'))
        text = driver.find_element(By.ID, 'top').text.split('\n')
        assert text[:2] == ['Top classes', ref[0][0]], text   # the label, the top class large
        for label, p in ref:                                   # then each class with its percentage
            assert label in text[2:] and text[text.index(label, 2) + 1] == f'{round(p * 100)}%', (text, ref)
        assert f'pick {ref[0][0]}' in driver.find_element(By.ID, 'agreement').text
        assert not [e for e in driver.find_elements(By.CSS_SELECTOR, '#timeline, #windows') if e.is_displayed()]   # a short video: no timeline
        time.sleep(1)   # let the gallery's images finish drawing
        driver.save_screenshot(str(tmp_path/'demo_page.png'))
        assert (tmp_path/'demo_page.png').stat().st_size > 10_000
        msgs = [json.loads(e['message'])['message'] for e in driver.get_log('performance')]
        urls = {m['params']['request']['url'] for m in msgs if m['method'] == 'Network.requestWillBeSent'}
        web = {u for u in urls if u.split(':')[0] in ('http', 'https', 'ws', 'wss')}   # not chrome:// (the browser's own pages), data:, blob:
        assert len(web) > 5 and all(u.split('//')[1].startswith(server.split('//')[1] + '/') for u in web), sorted(web)
    finally: driver.quit()

@pytest.mark.timeout(120)
@pytest.mark.skipif(not CHROMIUM.exists(), reason='/usr/bin/chromium is absent: apt-get install chromium chromium-driver')
def test_page_shows_a_long_videos_timeline_in_chromium(server, long_video, long_reference, tmp_path):
    "Upload a long video in a real browser: below the frames, the timeline picture and the table of its windows, 0 s to its end"
    from selenium.webdriver.common.by import By
    ref, win = long_reference
    driver = _chromium(tmp_path/'profile')
    try:
        wait = _upload(driver, server, long_video)
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, '#timeline img') and 'top class' in d.find_element(By.ID, 'windows').text)
        assert driver.find_element(By.ID, 'top').text.split('\n')[:2] == ['Top classes', ref[0][0]]
        img = driver.find_element(By.CSS_SELECTOR, '#timeline img')
        wait.until(lambda d: d.execute_script('return arguments[0].complete && arguments[0].naturalWidth', img))
        assert driver.execute_script('return [arguments[0].naturalWidth, arguments[0].naturalHeight]', img) == [800, 240]
        grid = driver.find_element(By.CSS_SELECTOR, '#windows [role=grid]')
        assert (grid.get_attribute('aria-rowcount'), grid.get_attribute('aria-colcount')) == (str(1 + (LONG - 12) // 6 + 1), '4')   # the header, 29 windows
        cell = lambda r, c: driver.find_element(By.CSS_SELECTOR, f'#windows [data-testid="cell-{r}-{c}"]').text
        assert [cell(0, c) for c in range(4)] == ['0', '0.48', win[0][2], f'{win[0][3]:g}'], [cell(0, c) for c in range(4)]   # from 0 s
        driver.execute_script('arguments[0].scrollTop = arguments[0].scrollHeight', grid.find_element(By.CSS_SELECTOR, 'div[style*="max-height"]'))
        last = len(win) - 1   # rows are drawn as they scroll into view
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, f'#windows [data-testid="cell-{last}-1"]'))
        assert [cell(last, c) for c in range(4)] == [f'{win[-1][0]:g}', '7.2', win[-1][2], f'{win[-1][3]:g}']   # to the video's end
        if SCREENSHOT:   # the whole page, the table scrolled back to its first rows
            driver.execute_script('arguments[0].scrollTop = 0', grid.find_element(By.CSS_SELECTOR, 'div[style*="max-height"]'))
            driver.set_window_size(1280, driver.execute_script('return document.documentElement.scrollHeight') + 140)   # + the window's frame
            time.sleep(1)
            driver.save_screenshot(SCREENSHOT)
    finally: driver.quit()

@pytest.mark.timeout(120)
def test_core_imports_without_gradio(tmp_path):
    "Without gradio, `videocls.all` imports, and the page and the command say what to install"
    block = "import sys; sys.modules['gradio'] = None; "
    r = subprocess.run([sys.executable, '-c', block + "import videocls.all, videocls.demo\n"
                        "try: videocls.demo.demo_app(None)\nexcept ImportError as e: print(e)"],
                       capture_output=True, text=True, timeout=100, env={**os.environ, **QUIET})
    assert r.returncode == 0 and "install the demo extra: pip install -e '.[demo]'" in r.stdout, r.stderr
    (tmp_path/'videocls-demo').write_text(block + "from videocls.demo import demo; sys.exit(demo())")   # what the console script runs
    r = subprocess.run([sys.executable, str(tmp_path/'videocls-demo'), str(tmp_path/'l.pkl')], capture_output=True, text=True,
                       timeout=100, env={**os.environ, **QUIET})
    assert r.returncode == 1 and "error: the demo page needs gradio: install the demo extra" in r.stderr and 'Traceback' not in r.stderr, r.stderr
