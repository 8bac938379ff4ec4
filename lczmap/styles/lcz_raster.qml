<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>
<qgis version="3.22" styleCategories="AllStyleCategories">
  <pipe>
    <rasterrenderer type="paletted" band="1" opacity="1" alphaBand="-1" nodataColor="">
      <rasterTransparency/>
      <minMaxOrigin><limits>None</limits><extent>WholeRaster</extent><statAccuracy>Estimated</statAccuracy><cumulativeCutLower>0.02</cumulativeCutLower><cumulativeCutUpper>0.98</cumulativeCutUpper><stdDevFactor>2</stdDevFactor></minMaxOrigin>
      <colorPalette>
        <paletteEntry value="1" color="#8c0000" alpha="255" label="LCZ 1 Compact high-rise"/>
        <paletteEntry value="2" color="#d10000" alpha="255" label="LCZ 2 Compact mid-rise"/>
        <paletteEntry value="3" color="#ff0000" alpha="255" label="LCZ 3 Compact low-rise"/>
        <paletteEntry value="4" color="#bf4d00" alpha="255" label="LCZ 4 Open high-rise"/>
        <paletteEntry value="5" color="#ff6600" alpha="255" label="LCZ 5 Open mid-rise"/>
        <paletteEntry value="6" color="#ff9955" alpha="255" label="LCZ 6 Open low-rise"/>
        <paletteEntry value="7" color="#faee05" alpha="255" label="LCZ 7 Lightweight low-rise"/>
        <paletteEntry value="8" color="#bcbcbc" alpha="255" label="LCZ 8 Large low-rise"/>
        <paletteEntry value="9" color="#ffccaa" alpha="255" label="LCZ 9 Sparsely built"/>
        <paletteEntry value="10" color="#555555" alpha="255" label="LCZ 10 Heavy industry"/>
        <paletteEntry value="11" color="#006a00" alpha="255" label="LCZ A Dense trees"/>
        <paletteEntry value="12" color="#00aa00" alpha="255" label="LCZ B Scattered trees"/>
        <paletteEntry value="13" color="#648525" alpha="255" label="LCZ C Bush, scrub"/>
        <paletteEntry value="14" color="#b9db79" alpha="255" label="LCZ D Low plants"/>
        <paletteEntry value="15" color="#000000" alpha="255" label="LCZ E Bare rock or paved"/>
        <paletteEntry value="16" color="#fbf7ae" alpha="255" label="LCZ F Bare soil or sand"/>
        <paletteEntry value="17" color="#6a6aff" alpha="255" label="LCZ G Water"/>
      </colorPalette>
      <colorramp type="randomcolors" name="[source]"/>
    </rasterrenderer>
    <brightnesscontrast brightness="0" contrast="0" gamma="1"/>
    <huesaturation saturation="0" grayscaleMode="0" colorizeOn="0" colorizeStrength="100"/>
    <rasterresampler maxOversampling="2" zoomedInResampler="nearest" zoomedOutResampler="nearest"/>
  </pipe>
  <blendMode>0</blendMode>
</qgis>
