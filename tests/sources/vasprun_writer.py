"""Write a small but complete vasprun.xml from a real CompleteDos, to test the `files` source's Vasprun path.

No vasprun.xml with projections is among the project's fixtures, so this writes one in VASP's own
layout (generator, incar, kpoints, parameters, atominfo, structures, calculation with total and
partial DOS and eigenvalues with occupations) around a real MP DOS. The eigenvalues are two flat
bands at the DOS's VBM (occupied) and CBM (empty), so the band gap pymatgen reads from them is known.
"""

from __future__ import annotations

import gzip
from pathlib import Path

from pymatgen.electronic_structure.core import Spin
from pymatgen.electronic_structure.dos import CompleteDos


def _rows(rows) -> str:
    return "".join("<r>" + " ".join(f"{x:.8f}" for x in row) + "</r>\n" for row in rows)


def _structure(name: str, structure) -> str:
    return (
        f'<structure name="{name}"><crystal><varray name="basis">{_vecs(structure.lattice.matrix)}</varray>'
        f'</crystal><varray name="positions">{_vecs(structure.frac_coords)}</varray></structure>\n'
    )


def _vecs(rows) -> str:
    return "".join("<v>" + " ".join(f"{x:.8f}" for x in row) + "</v>" for row in rows)


def write_vasprun(path: Path, dos: CompleteDos, vbm: float, cbm: float, ldau: bool = False) -> Path:
    s = dos.structure
    spins = [Spin.up] + ([Spin.down] if Spin.down in dos.densities else [])
    symbols = [site.specie.symbol for site in s]
    types = sorted(set(symbols), key=symbols.index)
    orbital_types = ["s", "p", "d"]
    out = ['<?xml version="1.0" encoding="ISO-8859-1"?>\n<modeling>\n']
    out.append(
        '<generator><i name="program" type="string">vasp </i><i name="version" type="string">6.3.2 </i></generator>\n'
    )
    out.append(
        f'<incar><i type="string" name="PREC">accurate</i><i name="ISPIN" type="int">{len(spins)}</i>'
        f'<i name="LORBIT" type="int">11</i>{_ldau(types, ldau)}</incar>\n'
    )
    out.append(
        '<kpoints><generation param="Gamma"><v type="int" name="divisions">1 1 1</v></generation>'
        '<varray name="kpointlist"><v>0.0 0.0 0.0</v></varray><varray name="weights"><v>1.0</v></varray></kpoints>\n'
    )
    out.append(
        f'<parameters><separator name="electronic"><i type="int" name="NELM">60</i>'
        f'<i type="int" name="ISPIN">{len(spins)}</i></separator>'
        f'<separator name="ionic"><i type="int" name="IBRION">-1</i><i type="int" name="NSW">0</i></separator>'
        f'<i type="string" name="GGA">PE</i><i type="logical" name="LHFCALC">F</i>{_ldau(types, ldau)}</parameters>\n'
    )
    atoms = "".join(f"<rc><c>{el}</c><c>{types.index(el) + 1}</c></rc>" for el in symbols)
    atomtypes = "".join(
        f"<rc><c>{symbols.count(el)}</c><c>{el}</c><c>28.0</c><c>4.0</c><c>PAW_PBE {el} 05Jan2001</c></rc>"
        for el in types
    )
    out.append(
        f'<atominfo><atoms>{len(s)}</atoms><types>{len(types)}</types><array name="atoms"><set>{atoms}</set></array>'
        f'<array name="atomtypes"><set>{atomtypes}</set></array></atominfo>\n'
    )
    out.append(_structure("initialpos", s))
    out.append('<calculation><scstep><energy><i name="e_fr_energy">-10.0</i></energy></scstep>\n')
    out.append(_structure("", s).replace(' name=""', ""))
    out.append(
        '<energy><i name="e_fr_energy">-10.8</i><i name="e_wo_entrp">-10.8</i><i name="e_0_energy">-10.8</i></energy>\n'
    )
    # eigenvalues: band 1 occupied at the VBM, band 2 empty at the CBM, one k-point, each spin
    out.append("<eigenvalues><array><set>")
    for k in range(len(spins)):
        out.append(f'<set comment="spin {k + 1}"><set comment="kpoint 1">{_rows([[vbm, 1.0], [cbm, 0.0]])}</set></set>')
    out.append("</set></array></eigenvalues>\n")
    # DOS: total (energy, density, integrated) and partial per ion (energy, s, p, d) per spin
    e = dos.energies
    out.append(f'<dos><i name="efermi">{dos.efermi:.8f}</i><total><array><set>')
    for k, spin in enumerate(spins):
        out.append(f'<set comment="spin {k + 1}">{_rows(zip(e, dos.densities[spin], e * 0, strict=True))}</set>')
    out.append("</set></array></total><partial><array><field>energy</field>")
    out.append("".join(f"<field>{o}</field>" for o in orbital_types) + "<set>")
    for i, site in enumerate(s):
        out.append(f'<set comment="ion {i + 1}">')
        site_dos = dos.get_site_spd_dos(site)
        for k, spin in enumerate(spins):
            cols = [e] + [site_dos[o].densities[spin] if o in site_dos else e * 0 for o in _orbitals(orbital_types)]
            out.append(f'<set comment="spin {k + 1}">{_rows(zip(*cols, strict=True))}</set>')
        out.append("</set>")
    out.append("</set></array></partial></dos></calculation>\n")
    out.append(_structure("finalpos", s))
    out.append("</modeling>\n")
    text = "".join(out)
    if path.suffix == ".gz":
        path.write_bytes(gzip.compress(text.encode("latin-1")))
    else:
        path.write_text(text, encoding="latin-1")
    return path


def _ldau(types: list[str], on: bool) -> str:
    """LDAU tags; +U of 5.3 eV on Fe d as in MP's GGA+U for Fe, 0 elsewhere."""
    if not on:
        return '<i name="LDAU" type="logical">F</i>'
    u = " ".join("5.3" if t == "Fe" else "0.0" for t in types)
    ls = " ".join("2" if t == "Fe" else "-1" for t in types)
    zeros = " ".join("0.0" for _ in types)
    return (
        f'<i name="LDAU" type="logical">T</i><v type="int" name="LDAUL">{ls}</v>'
        f'<v name="LDAUU">{u}</v><v name="LDAUJ">{zeros}</v>'
    )


def _orbitals(names):
    from pymatgen.electronic_structure.core import OrbitalType

    return [OrbitalType[n] for n in names]
