import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [('sources', '0002_mechanics')]

    operations = [
        migrations.CreateModel(
            name='RulesVersion',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('version', models.PositiveIntegerField()),
                ('document', models.TextField(help_text='The rules as JSON, amounts as exact decimals.')),
                ('digest', models.CharField(help_text='SHA-256 of the document.', max_length=64)),
                ('published_at', models.DateTimeField()),
                ('jackpot', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='rules_versions',
                                              to='sources.jackpotinstance')),
            ],
            options={
                'ordering': ['jackpot_id', '-version'],
                'constraints': [models.UniqueConstraint(fields=('jackpot', 'version'), name='rules_version_unique')],
            },
        ),
    ]
