"Install videocls from the metadata in settings.ini (the single source of truth)."
from configparser import ConfigParser
import setuptools, shlex

config = ConfigParser(delimiters=['='])
config.read('settings.ini', encoding='utf-8')
cfg = config['DEFAULT']

cfg_keys = 'version description keywords author author_email'.split()
expected = cfg_keys + "lib_name user branch license status min_python audience language".split()
licenses = {'apache2': ('Apache Software License 2.0','OSI Approved :: Apache Software License')}
statuses = ['1 - Planning', '2 - Pre-Alpha', '3 - Alpha', '4 - Beta', '5 - Production/Stable', '6 - Mature', '7 - Inactive']
py_versions = '3.11 3.12 3.13'.split()  # .ci/run tests each from min_python on

requirements = shlex.split(cfg.get('requirements', ''))
dev_requirements = shlex.split(cfg.get('dev_requirements', ''))
demo_requirements = shlex.split(cfg.get('demo_requirements', ''))
hf_requirements = shlex.split(cfg.get('hf_requirements', ''))
deploy_requirements = shlex.split(cfg.get('deploy_requirements', ''))
lic = licenses[cfg['license']]
min_python = cfg['min_python']
console_scripts = [s.strip() for s in cfg.get('console_scripts', '').split('\n') if s.strip()]

setuptools.setup(
    name = cfg['lib_name'],
    license = lic[0],
    classifiers = ['Development Status :: ' + statuses[int(cfg['status'])],
                   'Intended Audience :: ' + cfg['audience'].title(),
                   'Natural Language :: ' + cfg['language'].title()] +
                  ['Programming Language :: Python :: '+o for o in py_versions[py_versions.index(min_python):]] +
                  ['License :: ' + lic[1]],
    url = cfg['git_url'],
    packages = setuptools.find_packages(include=['videocls', 'videocls.*']),
    include_package_data = True,
    install_requires = requirements,
    extras_require = {'dev': dev_requirements + demo_requirements + hf_requirements + deploy_requirements, 'demo': demo_requirements,
                      'hf': hf_requirements, 'deploy': deploy_requirements},
    dependency_links = cfg.get('dep_links','').split(),
    python_requires = '>=' + min_python,
    long_description = open('README.md', encoding='utf-8').read(),
    long_description_content_type = 'text/markdown',
    zip_safe = False,
    entry_points = {'console_scripts': console_scripts, 'nbdev': [f'{cfg["lib_name"]}={cfg["lib_name"]}._modidx:d']},
    **{k: cfg[k] for k in cfg_keys})
